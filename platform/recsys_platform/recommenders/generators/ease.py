"""EASE generator (Steck 2019): a closed-form item-item linear autoencoder.

The model holds a dense ``items x items`` float64 matrix (plus the Gram matrix and its
inverse while fitting, so about three of them at peak): ``items**2 * 8`` bytes each.
That is 22 MB at 1,682 items (MovieLens 100K), 800 MB at 10,000 items and 80 GB at
100,000 items, and the inversion costs ``O(items**3)``. In practice EASE fits up to a
few tens of thousands of items on one machine; beyond that use ``ALSRecommender``
(memory linear in users + items) or ``ItemKNNRecommender`` (sparse top-K neighbours).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.base import FloatArray, NotFittedError
from recsys_platform.recommenders.data import IdIndex, Interactions
from recsys_platform.recommenders.generators.base import (
    F64,
    I64,
    FitData,
    Generator,
    Retrieval,
    SkipGenerator,
    check_shape,
    register,
)


class EASERecommender:
    """Scores ``x_u @ B`` with ``B = I - P / diag(P)``, ``P = (X'X + lambda I)^-1``, ``diag(B) = 0``.

    Args:
        l2: The ridge penalty lambda.
        binary: Treat every interaction as 1 (else use the stored values).
    """

    def __init__(self, l2: float = 500.0, binary: bool = True) -> None:
        if l2 <= 0:
            raise ValueError("l2 must be positive")
        self.l2 = l2
        self.binary = binary
        self.weights_: FloatArray | None = None
        self._train: csr_matrix | None = None

    def fit(self, train: csr_matrix) -> Self:
        """Solves for the item-item weights in closed form."""
        matrix = csr_matrix(train, dtype=np.float64, copy=True)
        matrix.eliminate_zeros()
        if self.binary:
            matrix.data[:] = 1.0
        gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)[np.newaxis, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights
        self._train = matrix
        return self

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns each user's training row times the weight matrix."""
        if self.weights_ is None or self._train is None:
            raise NotFittedError("EASERecommender is not fitted")
        users = np.asarray(user_indices, dtype=np.int64)
        return np.asarray(self._train[users] @ self.weights_, dtype=np.float64)


class EaseConfig(BaseModel):
    """Hyper-parameters of the EASE generator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ease"] = "ease"
    l2: float = Field(500.0, gt=0.0)
    """The ridge penalty lambda."""
    value_weight: float = Field(0.25, ge=0.0)
    """The Gram matrix weights each (user, item) pair by ``1 + w * z``, z = the pair's
    interaction value standardised over all pairs (clipped to +-3; weight at least 0.1), so
    ratings act as confidence. 0 (or values that are all equal) = binary. Serving is
    unchanged: the history rows of the EASE matrix are summed."""
    max_items: int = Field(8_000, ge=1)
    """EASE keeps a dense items x items float32 matrix (8k items = 256 MB) and inverts it at
    fit time, O(n^3) on one thread (about 3 minutes at 15k items here); above this limit it is
    skipped and item-kNN + ALS take over."""


def value_weighted(
    matrix: csr_matrix, users: IdIndex, items: IdIndex, interactions: Interactions, weight: float
) -> csr_matrix:
    """The binary user x item matrix with each pair weighted by ``1 + weight * z`` (z = the
    pair's mean interaction value, standardised over all pairs, clipped to +-3; at least 0.1).

    Returns ``matrix`` itself when ``weight`` is 0 or the values do not vary."""
    values = np.asarray(interactions.values, dtype=np.float64)
    if weight <= 0 or values.shape[0] == 0 or not np.isfinite(values).all() or np.ptp(values) == 0:
        return matrix
    rows = users.lookup(np.asarray(interactions.user_ids).astype(str))
    cols = items.lookup(np.asarray(interactions.item_ids).astype(str))
    pairs = pd.DataFrame({"r": rows, "c": cols, "v": values}).groupby(["r", "c"], sort=False)["v"].mean()
    spread = float(pairs.std(ddof=0))
    if spread == 0 or not np.isfinite(spread):
        return matrix
    z = np.clip((pairs.to_numpy() - float(pairs.mean())) / spread, -3.0, 3.0)
    r = pairs.index.get_level_values(0).to_numpy()
    c = pairs.index.get_level_values(1).to_numpy()
    return csr_matrix((np.maximum(1.0 + weight * z, 0.1), (r, c)), shape=matrix.shape)


@register
class EaseGenerator(Generator[EaseConfig]):
    """Serving EASE: a history's score is the sum of its rows of the weight matrix."""

    kind = "ease"
    collaborative = True
    FILE = "ease.npy"

    def __init__(self, config: EaseConfig, weights: npt.NDArray[np.float32]) -> None:
        super().__init__(config)
        self.weights = weights

    @classmethod
    def fit(cls, data: FitData, config: EaseConfig) -> EaseGenerator:
        if data.n_items > config.max_items:
            raise SkipGenerator(f"{data.n_items} items > max_items {config.max_items} of the ease generator")
        weighted = value_weighted(data.matrix, data.users, data.items, data.interactions, config.value_weight)
        ease = EASERecommender(l2=config.l2, binary=False).fit(weighted)
        assert ease.weights_ is not None
        return cls(config, ease.weights_.astype(np.float32))

    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        if not history.shape[0]:
            return None
        return Retrieval(self.weights[history].sum(axis=0, dtype=np.float64))

    def explain(self, history: I64, items: I64) -> F64 | None:
        return self.weights[np.ix_(history, items)].astype(np.float64)

    def save(self, directory: Path) -> list[str]:
        np.save(directory / self.FILE, self.weights)
        return [self.FILE]

    @classmethod
    def load(cls, directory: Path, files: Collection[str], config: EaseConfig, n_items: int) -> EaseGenerator:
        weights = np.load(directory / cls.FILE, allow_pickle=False)
        check_shape(directory / cls.FILE, weights.shape, (n_items, n_items))
        return cls(config, weights)
