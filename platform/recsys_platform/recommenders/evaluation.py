"""Offline evaluation of a hybrid model: a temporal split and top-k metrics incl. a cold slice."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.data import IdIndex, Interactions, train_histories
from recsys_platform.recommenders.exceptions import InsufficientDataError
from recsys_platform.recommenders.hybrid import HybridRecommender
from recsys_platform.recommenders.metrics import evaluate


def temporal_split(
    interactions: Interactions, holdout_fraction: float = 0.2, *, drop_unknown_items: bool = False
) -> tuple[Interactions, Interactions]:
    """Global time cut: the last ``holdout_fraction`` of events (by timestamp) are the test set.

    Ties at the cut go to train (so the cut is one timestamp). With ``drop_unknown_items``
    test events on items absent from train are dropped (they cannot be recommended by CF).

    Raises:
        ValueError: ``holdout_fraction`` outside (0, 1).
        InsufficientDataError: No timestamps, or one side of the cut would be empty.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    if interactions.timestamps is None:
        raise InsufficientDataError("a temporal split needs timestamps")
    times = interactions.timestamps
    cut = np.quantile(times, 1.0 - holdout_fraction, method="lower") if len(times) else 0
    train_mask = times <= cut
    if train_mask.all() or not train_mask.any():
        raise InsufficientDataError("a temporal split needs events at more than one time")
    train, test = interactions.subset(train_mask), interactions.subset(~train_mask)
    if drop_unknown_items:
        known = np.isin(test.item_ids, np.unique(train.item_ids))
        test = test.subset(known)
    return train, test


def holdout_reachability(
    model: HybridRecommender, train: Interactions, test: Interactions
) -> dict[str, float]:
    """How much of a hold-out a model can hit at all, to tell whether its scores mean anything.

    An interaction is reachable when its item is in the model's index and occurs in ``train``
    (a hold-out made of items nobody interacted with before the cut scores ~0 for every
    collaborative model and for popularity, and cannot rank models).

    Returns:
        ``holdout_events``, ``holdout_users``, ``holdout_indexed_share`` (items in the model's
        index), ``holdout_reachability`` (share of reachable interactions, 0 for an empty
        hold-out) and ``holdout_reachable_users`` (users with at least one reachable one).
    """
    test_users = np.asarray(test.user_ids).astype(str)
    test_items = np.asarray(test.item_ids).astype(str)
    indexed = np.isin(test_items, np.asarray(model.item_ids).astype(str))
    reachable = indexed & np.isin(test_items, np.asarray(train.item_ids).astype(str))
    n = len(test_items)
    return {
        "holdout_events": float(n),
        "holdout_users": float(np.unique(test_users).size),
        "holdout_indexed_share": float(indexed.mean()) if n else 0.0,
        "holdout_reachability": float(reachable.mean()) if n else 0.0,
        "holdout_reachable_users": float(np.unique(test_users[reachable]).size),
    }


def evaluate_model(
    model: HybridRecommender,
    train: Interactions,
    test: Interactions,
    k: int = 10,
    cold_start_max_history: int = 5,
    *,
    history_limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Top-k metrics of the model's lists for every test user, and on the cold slice.

    Each test user's history is their training items, most recent first (cut to
    ``history_limit`` when given); every test interaction is relevant; training items are
    excluded from the list by ``recommend``. Items outside the model's index count as
    relevant-but-unrecommendable (they lower recall, as in the reference protocol).

    Returns:
        ``ndcg_at_{k}``, ``recall_at_{k}``, ``map_at_{k}``, ``precision_at_{k}``,
        ``coverage_at_{k}``, ``users`` and the same keys prefixed ``cold_`` for users with at
        most ``cold_start_max_history`` training events.
    """
    histories = train_histories(train)
    test_users = np.asarray(test.user_ids).astype(str)
    test_items = np.asarray(test.item_ids).astype(str)
    users = IdIndex.from_ids(test_users)
    all_items = IdIndex.from_ids(np.concatenate([model.item_ids, test_items]))
    relevant, _, _ = Interactions(test_users, test_items, np.ones(len(test_users)), None).to_matrix(
        users, all_items, binary=True
    )
    recommended = np.full((len(users), k), -1, dtype=np.int64)
    for row, user in enumerate(users.ids):
        history = histories.get(str(user), [])
        if history_limit is not None:
            history = history[:history_limit]
        items = [s.item_id for s in model.recommend(history, k)]
        if items:
            recommended[row, : len(items)] = all_items.lookup(np.asarray(items))
        if progress is not None:
            progress(row)
    lengths = np.asarray([len(histories.get(str(u), [])) for u in users.ids])
    out = _metrics(recommended, relevant, k, len(model.item_ids), "")
    cold = lengths <= cold_start_max_history
    out.update(_metrics(recommended[cold], relevant[cold], k, len(model.item_ids), "cold_"))
    return out


def _metrics(
    recommended: npt.NDArray[np.int64], relevant: csr_matrix, k: int, n_items: int, prefix: str
) -> dict[str, float]:
    if recommended.shape[0] == 0:
        names = ("ndcg", "recall", "map", "precision", "coverage")
        return {**{f"{prefix}{m}_at_{k}": 0.0 for m in names}, f"{prefix}users": 0.0}
    m = evaluate(recommended, relevant, k)
    coverage = float(np.unique(recommended[recommended >= 0]).size / n_items) if n_items else 0.0
    return {
        f"{prefix}ndcg_at_{k}": m.ndcg_at_k,
        f"{prefix}recall_at_{k}": m.recall_at_k,
        f"{prefix}map_at_{k}": m.map_at_k,
        f"{prefix}precision_at_{k}": m.precision_at_k,
        f"{prefix}coverage_at_{k}": coverage,
        f"{prefix}users": float(m.users),
    }
