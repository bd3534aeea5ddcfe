"""Implicit-feedback ALS recipe (Hu, Koren & Volinsky 2008) via ``implicit``."""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from recsys_platform.recommenders.base import FloatArray, NotFittedError


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
