"""The learned ranker (LightGBM lambdarank) over the hybrid's candidate features, and tuning.

Training: each user's last (or a random) ``validation_fraction`` of training events is held
out; the generators are fitted on the rest; for a sample of users the warm recipe's
candidates get features (``scoring.features``) and label 1 when held out. Half of those users
train the ranker with early stopping on the other half; the cold-start blend weights and
threshold are grid-searched on that other half; the final ranker is trained on all of them
with the best round count. Then the generators are refitted on all training events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys_platform.recommenders import scoring
from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.data import Interactions, train_histories
from recsys_platform.recommenders.exceptions import InsufficientDataError
from recsys_platform.recommenders.model_state import fit_state

if TYPE_CHECKING:
    from recsys_platform.recommenders.hybrid import HybridRecommender

COLD_GRID = (0, 1, 2, 3, 5, 8, 12, 20)
CONTENT_GRID = (0.3, 1.0, 3.0)
POPULARITY_GRID = (0.1, 0.3, 1.0)
COLD_PROBE_HISTORY = 2
WEIGHT_GRID = (0.0, 0.1, 0.3, 0.6, 1.0)
AFFINITY_GRID = (0.0, 0.1, 0.3)


def load_booster(model_text: str) -> Any:
    """A LightGBM booster from its text format."""
    import lightgbm

    return lightgbm.Booster(model_str=model_text)


def validation_holdout(
    interactions: Interactions, fraction: float, mode: str, seed: int
) -> npt.NDArray[np.bool_]:
    """Marks each user's validation events: ``ceil(fraction * n)`` of a user's ``n >= 2``
    events, the most recent ones (``temporal``) or random ones (``random``)."""
    n = len(interactions)
    times = interactions.timestamps if interactions.timestamps is not None else np.arange(n)
    key = np.random.default_rng(seed).random(n) if mode == "random" else times.astype(np.float64)
    frame = pd.DataFrame({"u": np.asarray(interactions.user_ids).astype(str), "k": key, "o": np.arange(n)})
    frame = frame.sort_values(["u", "k", "o"], kind="stable")
    groups = frame.groupby("u", sort=False)
    size = groups["o"].transform("size").to_numpy()
    rank = groups.cumcount().to_numpy()
    held = np.ceil(fraction * size).astype(np.int64)
    out = np.zeros(n, dtype=bool)
    out[frame["o"].to_numpy()] = (size >= 2) & (rank >= size - held)
    return out


@dataclass
class _Group:
    fold: int
    user: str
    history: npt.NDArray[np.int64]
    relevant: npt.NDArray[np.int64]
    features: npt.NDArray[np.float64]
    labels: npt.NDArray[np.float64]


def _groups(
    model: HybridRecommender, inner: Interactions, held: Interactions, config: HybridConfig, fold: int = 0
) -> list[_Group]:
    histories = train_histories(inner)
    val = pd.DataFrame(
        {"u": np.asarray(held.user_ids).astype(str), "i": np.asarray(held.item_ids).astype(str)}
    )
    users = sorted(set(val["u"]) & set(histories))
    rng = np.random.default_rng(config.seed)
    if len(users) > config.ranker.max_train_users:
        users = sorted(rng.choice(users, size=config.ranker.max_train_users, replace=False).tolist())
    relevant_of = val.groupby("u")["i"].agg(list).to_dict()
    now = model.state.fitted_at
    out = []
    for user in users:
        hist = model.history_indices(histories[user])
        relevant = model.history_indices(relevant_of[user])
        if hist.shape[0] == 0 or relevant.shape[0] == 0:
            continue
        cand, _ = model.rank_candidates(hist, model.blocked_mask(hist, ()), cold=False)
        feats = scoring.features(model.state, cand, int(hist.shape[0]), now)
        labels = np.isin(cand.items, relevant).astype(np.float64)
        out.append(_Group(fold, user, hist, relevant, feats, labels))
    return out


def _base(config: HybridConfig, g: _Group) -> npt.NDArray[np.float64]:
    """The ranker's starting point: the scaled blend (trees learn corrections to it)."""
    scale = config.ranker.blend_init_scale
    if not scale:
        return np.zeros(g.labels.shape[0])
    return scale * scoring.blend_features(config.blend_weights, config.category_affinity_weight, g.features)


def _train(groups: list[_Group], config: HybridConfig, rounds: int, valid: list[_Group] | None) -> Any:
    import lightgbm

    params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [10],
        "num_leaves": config.ranker.num_leaves,
        "learning_rate": config.ranker.learning_rate,
        "min_data_in_leaf": config.ranker.min_data_in_leaf,
        "feature_fraction": config.ranker.feature_fraction,
        "feature_fraction_seed": config.seed,
        "lambda_l2": config.ranker.lambda_l2,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": max(config.num_threads, 1),
        "verbosity": -1,
    }

    def dataset(gs: list[_Group]) -> Any:
        return lightgbm.Dataset(
            np.vstack([g.features for g in gs]),
            label=np.concatenate([g.labels for g in gs]),
            group=[g.labels.shape[0] for g in gs],
            feature_name=list(scoring.FEATURE_NAMES),
            init_score=np.concatenate([_base(config, g) for g in gs]),
            free_raw_data=False,
        )

    train_set = dataset(groups)
    if valid:
        valid_set = dataset(valid)
        return lightgbm.train(
            params,
            train_set,
            num_boost_round=rounds,
            valid_sets=[valid_set],
            callbacks=[lightgbm.early_stopping(config.ranker.early_stopping_rounds, verbose=False)],
        )
    return lightgbm.train(params, train_set, num_boost_round=rounds)


def _ndcg(ranked: npt.NDArray[np.int64], relevant: npt.NDArray[np.int64], k: int = 10) -> float:
    hits = np.isin(ranked[:k], relevant).astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(relevant.shape[0], k)].sum()
    return float((hits * discounts[: hits.shape[0]]).sum() / ideal) if ideal else 0.0


def _group_ndcg(groups: list[_Group], scores: list[npt.NDArray[np.float64]], k: int = 10) -> float:
    """Mean nDCG@k of the candidate lists ordered by ``scores`` (ties: candidate order)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for g, s in zip(groups, scores, strict=True):
        top = np.argsort(-s, kind="stable")[:k]
        ideal = discounts[: min(g.relevant.shape[0], k)].sum()
        values.append(float((g.labels[top] * discounts[: top.shape[0]]).sum() / ideal))
    return float(np.mean(values)) if values else 0.0


def _list(model: HybridRecommender, hist: npt.NDArray[np.int64], cold: bool) -> npt.NDArray[np.int64]:
    cand, score = model.rank_candidates(hist, model.blocked_mask(hist, ()), cold)
    return cand.items[np.lexsort((cand.items, -score))[:10]]


def tune_warm_blend(config: HybridConfig, groups: list[_Group]) -> tuple[dict[str, float], float, float]:
    """Coordinate search of the warm blend weights and affinity weight on validation lists.

    Returns:
        The weights, the affinity weight and their validation nDCG@10.
    """
    weights = dict(config.blend_weights)
    affinity = config.category_affinity_weight

    def value(w: dict[str, float], a: float) -> float:
        return _group_ndcg(groups, [scoring.blend_features(w, a, g.features) for g in groups])

    best = value(weights, affinity)
    for _ in range(2):
        for name in ("als", "item_knn", "content", "popularity", "ease"):
            for candidate in WEIGHT_GRID:
                trial = {**weights, name: candidate}
                if not any(trial.values()):
                    continue  # an all-zero blend would rank by item index
                score = value(trial, affinity)
                if score > best + 1e-9:
                    best, weights = score, trial
        for a in AFFINITY_GRID:
            score = value(weights, a)
            if score > best + 1e-9:
                best, affinity = score, a
    return weights, affinity, best


def tune_cold(model: HybridRecommender, groups: list[_Group]) -> dict[str, Any]:
    """Grid search of the cold blend weights (on short probe histories) and the threshold.

    ``model.config`` must hold the final warm setting; it is restored before returning.
    """
    base = model.config
    best: tuple[float, dict[str, float]] = (-1.0, dict(base.blend_weights))
    contents = (
        CONTENT_GRID if "content" in model.state.generators else (base.blend_weights.get("content", 0.0),)
    )
    for content in contents:
        for popularity in POPULARITY_GRID:
            weights = {**base.blend_weights, "content": content, "popularity": popularity}
            model.config = base.model_copy(update={"blend_weights": weights})
            probes = [_ndcg(_list(model, g.history[:COLD_PROBE_HISTORY], True), g.relevant) for g in groups]
            if float(np.mean(probes)) > best[0]:
                best = (float(np.mean(probes)), weights)
    # the warm blend keeps its tuned weights; only the cold generators' weights change
    cold_weights = {**base.blend_weights, "content": best[1]["content"], "popularity": best[1]["popularity"]}
    lengths = np.asarray([g.history.shape[0] for g in groups])
    model.config = base
    warm = np.asarray([_ndcg(_list(model, g.history, False), g.relevant) for g in groups])
    model.config = base.model_copy(update={"blend_weights": cold_weights})
    cold = np.asarray([_ndcg(_list(model, g.history, True), g.relevant) for g in groups])
    model.config = base
    scores = {t: float(np.where(lengths < t, cold, warm).mean()) for t in COLD_GRID}
    threshold = max(COLD_GRID, key=lambda t: (scores[t], -t))
    return {
        "cold_blend_weights": {k: cold_weights[k] for k in ("content", "popularity")},
        "cold_start_threshold": threshold,
    }


def fit_with_ranker(
    cls: type[HybridRecommender],
    interactions: Interactions,
    catalog: pd.DataFrame | None,
    config: HybridConfig,
    now: float | None,
) -> HybridRecommender:
    """Fits generators, tunes the blend, trains the ranker on a validation split, refits.

    The ranker is kept only when it beats the tuned blend on the held-out validation users;
    otherwise (or with too few validation users) the blend ranks warm users and the reason
    is recorded in ``state.skipped["ranker"]``. ``state.validation`` keeps the numbers.
    """
    full_state = fit_state(interactions, catalog, config, now)
    inner_config = config.model_copy(update={"ranker": config.ranker.model_copy(update={"enabled": False})})
    groups: list[_Group] = []
    inner_model: HybridRecommender | None = None
    for fold in range(config.ranker.folds):
        held_mask = validation_holdout(
            interactions,
            config.ranker.validation_fraction,
            config.ranker.validation_split,
            config.seed + fold,
        )
        inner, held = interactions.subset(~held_mask), interactions.subset(held_mask)
        try:
            fold_model = cls(inner_config, fit_state(inner, catalog, inner_config, None))
        except InsufficientDataError as exc:
            full_state.skipped["ranker"] = f"validation split too small: {exc}"
            return cls(config, full_state)
        groups += [g for g in _groups(fold_model, inner, held, config, fold) if g.labels.any()]
        inner_model = inner_model or fold_model
    assert inner_model is not None
    users = sorted({g.user for g in groups})
    if len(users) < config.ranker.min_users:
        full_state.skipped["ranker"] = (
            f"{len(users)} validation users with a reachable held-out item, "
            f"at least {config.ranker.min_users} needed"
        )
        return cls(config, full_state)
    # split by user, so no user's lists (from different folds) are on both sides
    shuffled = np.random.default_rng(config.seed).permutation(len(users))
    first_users = {users[i] for i in shuffled[: max(1, len(users) // 2)]}
    first = [g for g in groups if g.user in first_users]
    second = [g for g in groups if g.user not in first_users]
    tuned: dict[str, Any] = {}
    blend_ndcg = _group_ndcg(
        second,
        [
            scoring.blend_features(config.blend_weights, config.category_affinity_weight, g.features)
            for g in second
        ],
    )
    if config.ranker.tune:
        weights, affinity, _ = tune_warm_blend(config, first)
        tuned = {"blend_weights": weights, "category_affinity_weight": affinity}
        blend_ndcg = _group_ndcg(
            second, [scoring.blend_features(weights, affinity, g.features) for g in second]
        )
    tuned_config = config.model_copy(update=tuned)
    booster = _train(first, tuned_config, config.ranker.num_rounds, second or None)
    rounds = max(1, int(booster.best_iteration or config.ranker.num_rounds))
    ranker_ndcg = _group_ndcg(
        second,
        [
            np.asarray(booster.predict(g.features, num_iteration=rounds)) + _base(tuned_config, g)
            for g in second
        ],
    )
    full_state.validation = {
        "users": float(len(users)),
        "blend_ndcg_at_10": blend_ndcg,
        "ranker_ndcg_at_10": ranker_ndcg,
    }
    use_ranker = bool(second) and ranker_ndcg > blend_ndcg + config.ranker.min_gain
    inner_model.config = config.model_copy(update=tuned)
    if use_ranker:
        inner_model._ranker = booster
    else:
        full_state.skipped["ranker"] = (
            f"the ranker did not beat the blend by {config.ranker.min_gain} on validation "
            f"(nDCG@10 {ranker_ndcg:.4f} vs {blend_ndcg:.4f})"
        )
    if config.ranker.tune and second:
        # the cold recipe is replayed with inner_model, i.e. the generators of fold 0
        tuned.update(tune_cold(inner_model, [g for g in second if g.fold == 0]))
    if use_ranker:
        full_state.ranker_model = _train(groups, tuned_config, rounds, None).model_to_string()
    final_config = config.model_copy(update=tuned)
    final_config.ranker = config.ranker.model_copy(update={"num_rounds": rounds})
    return cls(HybridConfig.model_validate(final_config.model_dump()), full_state)
