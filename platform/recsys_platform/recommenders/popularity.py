"""Most-popular recipe: the same ranking for everybody, optionally time-decayed."""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.base import FloatArray, NotFittedError


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
