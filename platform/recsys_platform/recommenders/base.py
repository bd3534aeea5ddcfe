"""The recommender contract shared by every recipe, and the top-k helper."""

from __future__ import annotations

from typing import Protocol, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]


class NotFittedError(RuntimeError):
    """Raised when a recommender is asked for scores before ``fit``."""


class Recommender(Protocol):
    """A model over a users x items interaction matrix.

    Implementations score every item for a batch of users; ``recommend`` turns those
    scores into top-k lists.
    """

    def fit(self, train: csr_matrix) -> Self:
        """Learns from the users x items training matrix and returns ``self``."""
        ...

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns a ``len(user_indices) x n_items`` array of scores (higher is better)."""
        ...


def recommend(
    model: Recommender,
    train: csr_matrix,
    user_indices: npt.ArrayLike,
    k: int,
    exclude_seen: bool = True,
) -> tuple[IndexArray, FloatArray]:
    """Returns the top-k items of each user, best first.

    Args:
        model: A fitted recommender.
        train: The training matrix; its non-zeros are the items a user has seen.
        user_indices: Row indices of the users.
        k: Length of each list; at most ``n_items``.
        exclude_seen: Drop items the user interacted with in ``train``.

    Returns:
        ``items`` (``n x k`` item indices) and their ``scores``. Positions with no
        eligible item left hold index ``-1`` and score ``-inf``.
    """
    users = np.asarray(user_indices, dtype=np.int64)
    scores = np.array(model.scores(users), dtype=np.float64)
    n_items = scores.shape[1]
    k = min(k, n_items)
    if exclude_seen:
        seen = train[users].tocoo()
        scores[seen.row, seen.col] = -np.inf
    # argpartition then a stable sort of the k candidates: ties resolve to the lower
    # item index, so lists are deterministic.
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n_items else None
    if candidates is None:
        candidates = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    items = np.take_along_axis(candidates, order, axis=1).astype(np.int64)
    top = np.take_along_axis(candidate_scores, order, axis=1)
    items[np.isneginf(top)] = -1
    return items, top
