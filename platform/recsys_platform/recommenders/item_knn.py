"""Item-kNN recipe: item-item cosine similarity on binary implicit data."""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import numpy.typing as npt
from implicit.nearest_neighbours import CosineRecommender
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.base import FloatArray, NotFittedError


class ItemKNNRecommender:
    """Scores an item by the summed cosine similarity to the items a user has seen.

    Each item keeps only its ``neighbours`` most similar items (implicit's
    ``CosineRecommender``). The sparse item x item matrix keeps ``items * K`` entries,
    so this recipe scales to catalogs far beyond what EASE can hold.

    Args:
        neighbours: Similar items kept per item (implicit's ``K``).
        num_threads: Threads for implicit; 0 means all cores.
    """

    def __init__(self, neighbours: int = 50, num_threads: int = 0) -> None:
        self.neighbours = neighbours
        self.num_threads = num_threads
        self.similarity_: csr_matrix | None = None
        self._train: csr_matrix | None = None

    def fit(self, train: csr_matrix) -> Self:
        """Computes the top-K cosine neighbours of each item from binarised ``train``."""
        binary = csr_matrix(train, dtype=np.float32, copy=True)
        binary.eliminate_zeros()
        binary.data[:] = 1.0
        model = CosineRecommender(K=self.neighbours, num_threads=self.num_threads)
        with warnings.catch_warnings():
            # implicit transposes internally and then warns about its own COO copy.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(binary, show_progress=False)
        self.similarity_ = csr_matrix(model.similarity, dtype=np.float64)
        self._train = csr_matrix(binary, dtype=np.float64)
        return self

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns ``history @ similarity`` for each user (implicit's own scoring rule)."""
        if self.similarity_ is None or self._train is None:
            raise NotFittedError("ItemKNNRecommender is not fitted")
        users = np.asarray(user_indices, dtype=np.int64)
        return np.asarray((self._train[users] @ self.similarity_).toarray(), dtype=np.float64)
