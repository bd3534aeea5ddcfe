"""Most-popular generator: the same ranking for everybody, optionally time-decayed."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.base import FloatArray, NotFittedError
from recsys_platform.recommenders.generators.base import (
    I64,
    FitData,
    Generator,
    Retrieval,
    check_shape,
    register,
)


class PopularityRecommender:
    """Scores each item by how many users interacted with it.

    With ``half_life_seconds`` each interaction counts ``0.5 ** (age / half_life)``,
    where age is measured from ``now`` (default: the latest timestamp seen).

    Args:
        half_life_seconds: Half-life of an interaction's weight; ``None`` disables decay.
    """

    def __init__(self, half_life_seconds: float | None = None) -> None:
        if half_life_seconds is not None and half_life_seconds <= 0:
            raise ValueError("half_life_seconds must be positive")
        self.half_life_seconds = half_life_seconds
        self.item_scores_: FloatArray | None = None

    def fit(self, train: csr_matrix, timestamps: csr_matrix | None = None, now: float | None = None) -> Self:
        """Counts interactions per item.

        Args:
            train: Users x items matrix; each stored non-zero is one interaction.
            timestamps: Same sparsity as ``train``, holding each interaction's unix time;
                needed when decay is on.
            now: Reference time for the decay.

        Returns:
            self.

        Raises:
            ValueError: If decay is on and ``timestamps`` is missing or misaligned.
        """
        binary = csr_matrix(train, dtype=np.float64, copy=True)
        binary.eliminate_zeros()
        binary.data[:] = 1.0
        if self.half_life_seconds is not None:
            if timestamps is None or timestamps.shape != train.shape:
                raise ValueError("time decay needs a timestamps matrix shaped like train")
            times = csr_matrix(timestamps, dtype=np.float64)
            weights = binary.multiply(times).tocsr()  # aligns times to train's non-zeros
            reference = float(now if now is not None else weights.data.max(initial=0.0))
            weights.data = 0.5 ** ((reference - weights.data) / self.half_life_seconds)
            binary = weights
        self.item_scores_ = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
        return self

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns the item popularity, repeated for every requested user."""
        if self.item_scores_ is None:
            raise NotFittedError("PopularityRecommender is not fitted")
        n = np.asarray(user_indices).shape[0]
        return np.tile(self.item_scores_, (n, 1))


class PopularityConfig(BaseModel):
    """Hyper-parameters of the popularity generator (every model has one: it is the fallback)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["popularity"] = "popularity"
    half_life_days: float | None = Field(7.0, gt=0.0)
    """Half-life of an interaction's weight; None disables decay."""


@register
class PopularityGenerator(Generator[PopularityConfig]):
    """Serving popularity: one precomputed, time-decayed vector, the same for every history."""

    kind = "popularity"
    needs_history = False
    FILE = "popularity.npy"

    def __init__(self, config: PopularityConfig, scores: npt.NDArray[np.float32]) -> None:
        super().__init__(config)
        self.scores = scores

    @classmethod
    def fit(cls, data: FitData, config: PopularityConfig) -> PopularityGenerator:
        if config.half_life_days is None:
            scores = np.asarray(data.matrix.sum(axis=0), dtype=np.float32).ravel()
            return cls(config, scores)
        # decay from the latest event, not from ``now``: the order is the same (the decay
        # scales every item alike) and a model fitted long after its data keeps non-zero scores
        times = data.times
        latest = float(times.max()) if len(times) else 0.0
        age = np.maximum(latest - times, 0.0)
        weights = np.power(0.5, age / (config.half_life_days * 86400.0))
        return cls(
            config, np.bincount(data.item_cols, weights=weights, minlength=data.n_items).astype(np.float32)
        )

    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        return Retrieval(self.scores.astype(np.float64))

    def save(self, directory: Path) -> list[str]:
        np.save(directory / self.FILE, self.scores)
        return [self.FILE]

    @classmethod
    def load(
        cls, directory: Path, files: Collection[str], config: PopularityConfig, n_items: int
    ) -> PopularityGenerator:
        if cls.FILE in files:
            scores = np.load(directory / cls.FILE, allow_pickle=False)
        else:  # schema 2 kept the vector in items.npz
            with np.load(directory / "items.npz", allow_pickle=False) as arrays:
                scores = arrays["popularity"]
        check_shape(directory / cls.FILE, scores.shape, (n_items,))
        return cls(config, scores)
