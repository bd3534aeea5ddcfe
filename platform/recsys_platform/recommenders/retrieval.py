"""Inner-product nearest-neighbour retrieval over item vectors with FAISS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


class InnerProductIndex:
    """An exact FAISS inner-product index over the rows of ``vectors`` (row i = item index i).

    Exact (``IndexFlatIP``) search over ~10k x 32 float32 takes well under a millisecond;
    the class keeps the index behind one small interface so an IVF/HNSW index can replace
    it for large catalogs.
    """

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32]) -> InnerProductIndex:
        """Builds the index over the given item vectors."""
        import faiss

        data = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(int(data.shape[1]))
        index.add(data)
        return cls(index)

    @property
    def size(self) -> int:
        """Number of indexed vectors."""
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self._index.d)

    def search(
        self, query: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Returns the ``k`` best item indices and inner products for one query vector."""
        k = max(0, min(k, self.size))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        scores, ids = self._index.search(q, k)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def save(self, path: Path) -> None:
        """Writes the index with ``faiss.write_index``."""
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> InnerProductIndex:
        """Reads an index written by :meth:`save`."""
        import faiss

        return cls(faiss.read_index(str(path)))
