"""Item-kNN generator: item-item cosine similarity on binary implicit data."""

from __future__ import annotations

import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from implicit.nearest_neighbours import CosineRecommender
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix, load_npz, save_npz

from recsys_platform.recommenders.base import FloatArray, NotFittedError
from recsys_platform.recommenders.generators.base import (
    F64,
    I64,
    FitData,
    Generator,
    Retrieval,
    check_shape,
    register,
    sum_rows,
)


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


class ItemKnnConfig(BaseModel):
    """Hyper-parameters of the item-kNN generator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["item_knn"] = "item_knn"
    neighbours: int = Field(50, ge=1)
    """Similar items kept per item."""


@register
class ItemKnnGenerator(Generator[ItemKnnConfig]):
    """Serving item-kNN: a history's score is the sum of its rows of the sparse similarity."""

    kind = "item_knn"
    collaborative = True
    similar_weight = 1.0
    FILE = "knn.npz"

    def __init__(self, config: ItemKnnConfig, similarity: csr_matrix) -> None:
        super().__init__(config)
        self.similarity = similarity

    @classmethod
    def fit(cls, data: FitData, config: ItemKnnConfig) -> ItemKnnGenerator:
        knn = ItemKNNRecommender(neighbours=config.neighbours, num_threads=data.num_threads).fit(data.matrix)
        assert knn.similarity_ is not None
        return cls(config, csr_matrix(knn.similarity_, dtype=np.float32))

    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        if not history.shape[0]:
            return None
        return Retrieval(sum_rows(self.similarity, history))

    def explain(self, history: I64, items: I64) -> F64 | None:
        return np.asarray(self.similarity[history][:, items].toarray(), dtype=np.float64)

    def similar(self, item: int) -> F64 | None:
        return np.asarray(self.similarity[item].toarray(), dtype=np.float64).ravel()

    def save(self, directory: Path) -> list[str]:
        save_npz(directory / self.FILE, self.similarity)
        return [self.FILE]

    @classmethod
    def load(
        cls, directory: Path, files: Collection[str], config: ItemKnnConfig, n_items: int
    ) -> ItemKnnGenerator:
        similarity = csr_matrix(load_npz(directory / cls.FILE))
        check_shape(directory / cls.FILE, similarity.shape, (n_items, n_items))
        return cls(config, similarity)
