"""Implicit-feedback ALS generator (Hu, Koren & Volinsky 2008) via ``implicit``.

Serving folds the user vector in from the history at request time (one exact least-squares
step, implicit's own rule) and retrieves candidates with a FAISS inner-product index over the
item factors; nothing about a user is stored in the model.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from recsys_platform.recommenders.base import FloatArray, NotFittedError
from recsys_platform.recommenders.generators.base import (
    F64,
    I64,
    FitData,
    Generator,
    Retrieval,
    check_shape,
    register,
)
from recsys_platform.recommenders.retrieval import InnerProductIndex


class ALSRecommender:
    """Matrix factorisation with confidence ``1 + alpha * r`` on binarised interactions.

    Args:
        factors: Latent dimensions.
        regularization: L2 penalty on the factors.
        alpha: Confidence scale of an observed interaction.
        iterations: ALS sweeps.
        seed: Seed of the factor initialisation.
        num_threads: Threads for implicit; 0 means all cores.
        binary: Treat every interaction as 1 (else use the stored values).
    """

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 1.0,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 42,
        num_threads: int = 0,
        binary: bool = True,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads
        self.binary = binary
        self.user_factors_: FloatArray | None = None
        self.item_factors_: FloatArray | None = None

    def fit(self, train: csr_matrix) -> Self:
        """Learns user and item factors from ``train`` (users x items)."""
        matrix = csr_matrix(train, dtype=np.float32, copy=True)
        matrix.eliminate_zeros()
        if self.binary:
            matrix.data[:] = 1.0
        # implicit's own threads do the work; a BLAS thread pool inside them only contends
        # (implicit checks this when the model is built, so the limit covers both)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.num_threads,
            )
            model.fit(matrix, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns the dot products of user and item factors."""
        if self.user_factors_ is None or self.item_factors_ is None:
            raise NotFittedError("ALSRecommender is not fitted")
        users = np.asarray(user_indices, dtype=np.int64)
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float64)


class AlsConfig(BaseModel):
    """Hyper-parameters of the ALS generator (defaults chosen on a validation holdout of the
    MovieLens 100K training split; docs/model.md)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["als"] = "als"
    factors: int = Field(64, ge=1)
    regularization: float = Field(40.0, ge=0.0)
    alpha: float = Field(6.0, ge=0.0)
    iterations: int = Field(20, ge=1)


@register
class AlsGenerator(Generator[AlsConfig]):
    """Serving ALS: fold-in user vector, dense item scores and FAISS retrieval."""

    kind = "als"
    collaborative = True
    similar_weight = 0.5
    FILES = ("als_items.npy", "als.faiss")

    def __init__(self, config: AlsConfig, items: npt.NDArray[np.float32], index: InnerProductIndex) -> None:
        super().__init__(config)
        self.items = items
        self.index = index
        self._gram: npt.NDArray[np.float64] | None = None

    @classmethod
    def fit(cls, data: FitData, config: AlsConfig) -> AlsGenerator:
        als = ALSRecommender(
            factors=config.factors,
            regularization=config.regularization,
            alpha=config.alpha,
            iterations=config.iterations,
            seed=data.seed,
            num_threads=data.num_threads,
        ).fit(data.matrix)
        assert als.item_factors_ is not None
        items = np.ascontiguousarray(als.item_factors_, dtype=np.float32)
        return cls(config, items, InnerProductIndex.build(items))

    def gram(self) -> npt.NDArray[np.float64]:
        """``Y'Y + reg * I`` of the item factors (cached; used by the fold-in)."""
        if self._gram is None:
            y = self.items.astype(np.float64)
            self._gram = y.T @ y + self.config.regularization * np.eye(y.shape[1])
        return self._gram

    def fold_in(self, history: I64) -> F64:
        """The user vector for a history (one exact least-squares step; implicit's rule)."""
        y = self.items[history].astype(np.float64)
        gram = self.gram() + self.config.alpha * (y.T @ y)
        b = (1.0 + self.config.alpha) * y.sum(axis=0)
        return np.asarray(np.linalg.solve(gram, b), dtype=np.float64)

    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        if not history.shape[0]:
            return None
        user = self.fold_in(history).astype(np.float32)
        found, _ = self.index.search(user, k)
        return Retrieval((self.items @ user).astype(np.float64), found)

    def similar(self, item: int) -> F64 | None:
        vectors = self.items.astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1) + 1e-12
        return np.asarray(np.maximum(vectors @ vectors[item] / (norms * norms[item]), 0.0), dtype=np.float64)

    def save(self, directory: Path) -> list[str]:
        np.save(directory / self.FILES[0], self.items)
        self.index.save(directory / self.FILES[1])
        return list(self.FILES)

    @classmethod
    def load(cls, directory: Path, files: Collection[str], config: AlsConfig, n_items: int) -> AlsGenerator:
        items = np.load(directory / cls.FILES[0], allow_pickle=False)
        index = InnerProductIndex.load(directory / cls.FILES[1])
        check_shape(directory / cls.FILES[0], items.shape[:1], (n_items,))
        check_shape(directory / cls.FILES[1], (index.size,), (n_items,))
        return cls(config, items, index)
