"""Request-time scoring: candidate generation, candidate features and the first-stage blend.

One function builds the feature matrix for both serving and ranker training, so the two
can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.generators import KINDS
from recsys_platform.recommenders.model_state import ModelState

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TIME_FEATURES: tuple[str, ...] = ("time_lift", "time_cos", "time_lift_recent")

FEATURE_NAMES: tuple[str, ...] = (
    *(f"{g}_score" for g in KINDS),
    *(f"{g}_rank" for g in KINDS),
    *(f"{g}_relative" for g in KINDS),
    "log_count",
    "log_popularity",
    "item_age_days",
    "days_since_last_event",
    "category_affinity",
    "history_length",
    *TIME_FEATURES,
)


@dataclass
class Candidates:
    """The merged candidates of one request with each generator's score and rank."""

    items: I64
    scores: dict[str, F64]
    ranks: dict[str, F64]
    sources: dict[str, npt.NDArray[np.bool_]]
    affinity: F64
    temporal: F64
    """``TIME_FEATURES`` columns (zeros when the model has no time histograms)."""


def _top(scores: F64, blocked: npt.NDArray[np.bool_], k: int) -> I64:
    masked = np.where(blocked, -np.inf, scores)
    k = min(k, masked.shape[0])
    top = np.argpartition(-masked, k - 1)[:k] if k < masked.shape[0] else np.arange(masked.shape[0])
    top = top[np.isfinite(masked[top])]
    order = np.lexsort((top, -masked[top]))
    return top[order].astype(np.int64)


def generator_scores(
    state: ModelState, config: HybridConfig, history: I64, generators: list[str]
) -> tuple[dict[str, F64], dict[str, I64]]:
    """Dense scores over all items per generator, and the candidates of those that retrieve
    with their own index (ALS's FAISS search)."""
    dense: dict[str, F64] = {}
    retrieved: dict[str, I64] = {}
    k = config.candidates_per_generator + history.shape[0]
    for g in generators:
        generator = state.generators.get(g)
        if generator is None or (generator.needs_history and not history.shape[0]):
            continue
        out = generator.retrieve(history, k)
        if out is None:
            continue
        dense[g] = out.scores
        if out.retrieved is not None:
            retrieved[g] = out.retrieved
    return dense, retrieved


def user_category_affinity(
    state: ModelState, history: I64, category_affinity: Mapping[str, float] | None
) -> F64:
    """Affinity of the user to each item: mean over the item's categories of the user's
    category shares (passed in, or counted from the history)."""
    n_cats = state.item_categories.shape[1]
    if category_affinity:
        position = {c: i for i, c in enumerate(state.category_names)}
        weights = np.zeros(n_cats)
        for name, value in category_affinity.items():
            if name.lower() in position:
                weights[position[name.lower()]] = float(value)
    elif history.shape[0] and state.category_names:
        weights = np.asarray(state.item_categories[history].sum(axis=0), dtype=np.float64).ravel()
        weights /= history.shape[0]
    else:
        return np.zeros(state.n_items)
    per_item = np.asarray(state.item_categories @ weights, dtype=np.float64).ravel()
    n_per_item = np.maximum(np.diff(state.item_categories.indptr), 1)
    return np.asarray(per_item / n_per_item, dtype=np.float64)


def candidates(
    state: ModelState,
    config: HybridConfig,
    history: I64,
    blocked: npt.NDArray[np.bool_],
    generators: list[str],
    category_affinity: Mapping[str, float] | None = None,
    include: I64 | None = None,
) -> Candidates:
    """Merges each generator's top ``candidates_per_generator`` unblocked items.

    ``include`` (item indices) join the pool whatever their scores, blocked or not: a re-rank
    request scores the caller's items on the same pool, so they keep ``recommend``'s order.
    Outside a generator's top list an item has that generator's last rank and is not one of
    its sources.
    """
    dense, retrieved = generator_scores(state, config, history, generators)
    per_generator: dict[str, I64] = {}
    for g, scores in dense.items():
        if g in retrieved:
            found = retrieved[g]
            per_generator[g] = found[~blocked[found]][: config.candidates_per_generator]
        else:
            per_generator[g] = _top(scores, blocked, config.candidates_per_generator)
    parts = list(per_generator.values()) + ([include.astype(np.int64)] if include is not None else [])
    pool = np.unique(np.concatenate(parts or [np.empty(0, np.int64)]))
    n = pool.shape[0]
    scores_out: dict[str, F64] = {}
    ranks_out: dict[str, F64] = {}
    sources: dict[str, npt.NDArray[np.bool_]] = {}
    c = float(config.candidates_per_generator)
    for g in KINDS:
        if g in dense:
            scores_out[g] = dense[g][pool]
            rank = np.full(state.n_items, c + 1.0)
            rank[per_generator[g]] = np.arange(1, per_generator[g].shape[0] + 1)
            ranks_out[g] = rank[pool] / c
            member = np.zeros(state.n_items, dtype=bool)
            member[per_generator[g]] = True
            sources[g] = member[pool]
        else:
            scores_out[g] = np.zeros(n)
            ranks_out[g] = np.full(n, (c + 1.0) / c)
            sources[g] = np.zeros(n, dtype=bool)
    affinity = user_category_affinity(state, history, category_affinity)[pool]
    temporal = time_features(state, history, pool)
    return Candidates(pool.astype(np.int64), scores_out, ranks_out, sources, affinity, temporal)


def time_features(state: ModelState, history: I64, items: I64) -> F64:
    """How much each item's interactions fall in the period of the history items'.

    The user's time profile is the mean interaction-time distribution of the history items
    (recency-weighted ``1 / (1 + position)`` for ``time_lift_recent``). ``time_lift`` is
    the item's distribution dotted with the profile's lift over the global distribution,
    ``time_cos`` the cosine of the two distributions. Item-side statistics and the history
    only, so a new user gets them too.
    """
    out = np.zeros((items.shape[0], len(TIME_FEATURES)))
    if state.time_hist is None or state.time_global is None or not history.shape[0] or not items.shape[0]:
        return out
    hist = state.time_hist[history].astype(np.float64)
    glob = state.time_global.astype(np.float64)
    cand = state.time_hist[items].astype(np.float64)
    profile = hist.mean(axis=0)
    weights = 1.0 / (1.0 + np.arange(history.shape[0]))
    recent = weights @ hist / weights.sum()
    out[:, 0] = cand @ (profile / glob)
    norms = np.linalg.norm(cand, axis=1) * (np.linalg.norm(profile) or 1.0)
    out[:, 1] = np.divide(cand @ profile, norms, out=np.zeros(items.shape[0]), where=norms > 0)
    out[:, 2] = cand @ (recent / glob)
    return out


def _relative(scores: F64) -> F64:
    """Scores divided by the request's best score (comparable across history lengths)."""
    top = float(np.abs(scores).max()) if scores.shape[0] else 0.0
    return scores / top if top > 0 else scores


def features(state: ModelState, cand: Candidates, history_length: int, now: float) -> F64:
    """The ranker's feature matrix (columns in ``FEATURE_NAMES`` order)."""
    items = cand.items
    created = state.catalog["created_at"].to_numpy(dtype=np.float64)[items]
    first = state.first_event[items].astype(np.float64)
    born = np.where(np.isnan(created), first, created)
    age = np.where(np.isnan(born), -1.0, (now - born) / 86400.0)
    last = state.last_event[items].astype(np.float64)
    since = np.where(np.isnan(last), -1.0, (now - last) / 86400.0)
    columns = [
        *(cand.scores[g] for g in KINDS),
        *(cand.ranks[g] for g in KINDS),
        *(_relative(cand.scores[g]) for g in KINDS),
        np.log1p(state.counts[items].astype(np.float64)),
        np.log1p(state.popularity[items].astype(np.float64)),
        age,
        since,
        cand.affinity,
        np.full(items.shape[0], float(history_length)),
        *cand.temporal.T,
    ]
    return np.column_stack(columns) if items.shape[0] else np.empty((0, len(FEATURE_NAMES)))


def blend(config: HybridConfig, cand: Candidates) -> F64:
    """First-stage score: weighted sum of max-normalised generator scores + affinity bonus."""
    return blend_scores(config.blend_weights, config.category_affinity_weight, cand.scores, cand.affinity)


def blend_scores(
    weights: Mapping[str, float], affinity_weight: float, scores: Mapping[str, F64], affinity: F64
) -> F64:
    """The blend over raw per-generator score columns (shared by serving and tuning)."""
    total = np.zeros(affinity.shape[0])
    for g, column in scores.items():
        weight = weights.get(g, 0.0)
        top = float(column.max()) if column.shape[0] else 0.0
        if weight and top > 0:
            total += weight * np.maximum(column, 0.0) / top
    return total + affinity_weight * affinity


def blend_features(weights: Mapping[str, float], affinity_weight: float, feats: F64) -> F64:
    """``blend_scores`` computed from a ``features`` matrix."""
    scores: dict[str, F64] = {g: feats[:, FEATURE_NAMES.index(f"{g}_score")] for g in KINDS}
    return blend_scores(weights, affinity_weight, scores, feats[:, FEATURE_NAMES.index("category_affinity")])
