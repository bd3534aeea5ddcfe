"""Top-k ranking metrics with binary relevance (Microsoft Recommenders definitions).

Every held-out interaction of a user is relevant; items seen in training are expected
to be removed from the recommendations before scoring. All functions take
``recommended``, a ``n_users x k`` array of item indices in rank order (``-1`` pads
short lists), and ``relevant``, a ``n_users x n_items`` sparse matrix whose non-zeros
mark relevant items. Users without relevant items are left out of every average, as
the reference implementation only scores users present in the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RankingMetrics:
    """Mean top-k metrics over the evaluated users.

    Attributes:
        map: Sum of precision at each hit, divided by the number of relevant items.
        map_at_k: The same, divided by ``min(#relevant, k)``.
        ndcg_at_k: Binary-gain nDCG with a ``1 / ln(1 + rank)`` discount.
        precision_at_k: Hits divided by k.
        recall_at_k: Hits divided by the number of relevant items.
        coverage_at_k: Share of the catalog recommended to at least one user.
        users: Number of users averaged over.
    """

    map: float
    map_at_k: float
    ndcg_at_k: float
    precision_at_k: float
    recall_at_k: float
    coverage_at_k: float
    users: int


def _hits(recommended: npt.NDArray[np.int64], relevant: csr_matrix) -> FloatArray:
    """Returns a users x k 0/1 matrix: is the item at each rank relevant."""
    rel = csr_matrix(relevant, dtype=np.float64)
    rel.eliminate_zeros()
    rows = np.repeat(np.arange(recommended.shape[0]), recommended.shape[1])
    cols = recommended.ravel()
    valid = cols >= 0
    out = np.zeros(cols.shape, dtype=np.float64)
    out[valid] = np.asarray(rel[rows[valid], cols[valid]]).ravel() != 0
    return out.reshape(recommended.shape)


def _relevant_counts(relevant: csr_matrix) -> FloatArray:
    rel = csr_matrix(relevant)
    rel.eliminate_zeros()
    counts: FloatArray = np.diff(rel.indptr).astype(np.float64)
    return counts


def _average_precision(hits: FloatArray, denominators: FloatArray) -> FloatArray:
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    precision_at_hits = np.cumsum(hits, axis=1) / ranks * hits
    return np.asarray(precision_at_hits.sum(axis=1) / denominators, dtype=np.float64)


def mean_average_precision(recommended: npt.ArrayLike, relevant: csr_matrix) -> float:
    """MAP over the given lists: hit precisions summed, divided by #relevant."""
    rec, hits, n_rel, users = _prepare(recommended, relevant)
    return float(_average_precision(hits[users], n_rel[users]).mean()) if users.any() else 0.0


def map_at_k(recommended: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    """MAP@k: hit precisions in the top k summed, divided by ``min(#relevant, k)``."""
    rec, hits, n_rel, users = _prepare(recommended, relevant, k)
    denominators = np.minimum(n_rel, k)
    return float(_average_precision(hits[users], denominators[users]).mean()) if users.any() else 0.0


def ndcg_at_k(recommended: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    """nDCG@k with binary gain, ``1 / ln(1 + rank)`` discount, ideal over ``min(#relevant, k)``."""
    rec, hits, n_rel, users = _prepare(recommended, relevant, k)
    if not users.any():
        return 0.0
    discounts = 1.0 / np.log1p(np.arange(1, k + 1, dtype=np.float64))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k).astype(np.int64)]
    return float((dcg[users] / ideal[users]).mean())


def precision_at_k(recommended: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    """Precision@k: hits in the top k divided by k (short lists still divide by k)."""
    rec, hits, n_rel, users = _prepare(recommended, relevant, k)
    return float((hits[users].sum(axis=1) / k).mean()) if users.any() else 0.0


def recall_at_k(recommended: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    """Recall@k: hits in the top k divided by the number of relevant items."""
    rec, hits, n_rel, users = _prepare(recommended, relevant, k)
    return float((hits[users].sum(axis=1) / n_rel[users]).mean()) if users.any() else 0.0


def catalog_coverage_at_k(recommended: npt.ArrayLike, n_items: int, k: int) -> float:
    """Share of the ``n_items`` catalog that appears in at least one top-k list."""
    rec = np.asarray(recommended, dtype=np.int64)[:, :k]
    distinct = np.unique(rec[rec >= 0])
    return float(distinct.size / n_items) if n_items else 0.0


def evaluate(recommended: npt.ArrayLike, relevant: csr_matrix, k: int) -> RankingMetrics:
    """Computes every metric at k; MAP uses the same top-k lists (as the reference does)."""
    rec = np.asarray(recommended, dtype=np.int64)[:, :k]
    return RankingMetrics(
        map=mean_average_precision(rec, relevant),
        map_at_k=map_at_k(rec, relevant, k),
        ndcg_at_k=ndcg_at_k(rec, relevant, k),
        precision_at_k=precision_at_k(rec, relevant, k),
        recall_at_k=recall_at_k(rec, relevant, k),
        coverage_at_k=catalog_coverage_at_k(rec, relevant.shape[1], k),
        users=int((_relevant_counts(relevant) > 0).sum()),
    )


def _prepare(
    recommended: npt.ArrayLike, relevant: csr_matrix, k: int | None = None
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    rec = np.asarray(recommended, dtype=np.int64)
    if rec.ndim != 2 or rec.shape[0] != relevant.shape[0]:
        raise ValueError("recommended must be n_users x k with one row per row of relevant")
    if k is not None:
        if k < 1:
            raise ValueError("k must be at least 1")
        rec = rec[:, :k]
    n_rel = _relevant_counts(relevant)
    return rec, _hits(rec, relevant), n_rel, n_rel > 0
