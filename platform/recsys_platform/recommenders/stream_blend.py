"""Blending the batch model's candidates with the streaming generators' signals.

The batch model (generators + ranker, fitted by the pipeline) knows long-term preferences; the
streaming state (``recsys_platform.streaming``, kept by the stream processor on event time) knows
what is happening now: session-kNN, co-visitation and next-item transitions, trending windows.
One function, :func:`blend`, merges both for a request: the candidates are the model's pool plus
each signal's top items (also items the model has never seen, e.g. articles published after
training), each column is scaled to [0, 1] within the request, and the score is the weighted
sum. The weights are the model's (``HybridConfig.stream_weights``), chosen at training time by
:func:`tune_stream_weights` on a point-in-time replay of the hold-out (the same streaming
definitions run in memory), so serving computes exactly what was tuned.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys_platform.recommenders.generators import KINDS
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals
from recsys_platform.streaming.scoring import FRESH_ITEMS, fresh_scores

MODEL = "model"
SESSION_SIGNALS = ("session_knn", "covisit", "next_item")
FRESH = "fresh"
#: Candidates each signal adds to the pool.
SIGNAL_CANDIDATES = 100
F64 = npt.NDArray[np.float64]
#: Per-candidate context the stream ranker sees besides the blend columns: the user's history and
#: session lengths, and which of the model's generators proposed the item.
CONTEXT_FEATURES = ("log_history_length", "session_length", *(f"from_{k}" for k in KINDS))


def signal_names(config: StreamingConfig) -> list[str]:
    """The streaming columns, in a fixed order: session signals, one per trending window, then
    the newest catalog items (``fresh``)."""
    return [*SESSION_SIGNALS, *(f"trending_{w}" for w in config.trending_windows_s), FRESH]


def uses_stream(weights: Mapping[str, float]) -> bool:
    """Whether any streaming signal has a weight (serving reads the streaming state only then)."""
    return any(w > 0 for name, w in weights.items() if name != MODEL)


@dataclass(frozen=True)
class BlendedItem:
    """One item of a blended list (``ScoredItemLike``)."""

    item_id: str
    score: float
    reason: str
    sources: tuple[str, ...]


REASONS = {
    "session_knn": "readers like you right now",
    "covisit": "often next after what you just viewed",
    "next_item": "often next after what you just viewed",
    FRESH: "new",
}


def _signal_scores(signals: StreamSignals, name: str) -> Mapping[str, float]:
    if name.startswith("trending_"):
        return signals.trending.get(int(name.removeprefix("trending_")), {})
    scores: Mapping[str, float] = getattr(signals, name)
    return scores


def columns(
    model_items: Sequence[Any],
    signals: StreamSignals | None,
    names: Sequence[str],
    exclude: Collection[str] = (),
    per_signal: int = SIGNAL_CANDIDATES,
    include: Sequence[str] | None = None,
) -> tuple[list[str], F64]:
    """The request's candidates and their columns ``[model, *names]``, each scaled to [0, 1].

    Candidates: the model's items (``item_id``/``score``), then each signal's ``per_signal``
    best items, minus ``exclude``; with ``include`` exactly those items (re-ranking a given
    list). The model column is min-max scaled over the model's pool (0 for items it did not
    return); a signal column is divided by the signal's best score among its top items.
    """
    order: dict[str, int] = {i: k for k, i in enumerate(include)} if include is not None else {}
    grow = include is None
    for s in model_items:
        if grow and s.item_id not in exclude and s.item_id not in order:
            order[s.item_id] = len(order)
    tops: list[list[tuple[str, float]]] = []
    for name in names:
        top = signals.top(name, per_signal + len(exclude)) if signals is not None else []
        top = [(i, v) for i, v in top if i not in exclude and v > 0][:per_signal]
        tops.append(top)
        for item, _ in top:
            if grow and item not in order:
                order[item] = len(order)
    matrix = np.zeros((len(order), 1 + len(names)))
    # Columns are filled a whole column at a time (fancy-index assignment of the same values the
    # element-wise loop wrote): per-element numpy stores were most of this function's cost.
    rows: list[int] = []
    values: list[float] = []
    for s in model_items:
        row = order.get(s.item_id)
        score = float(s.score)
        if row is not None and math.isfinite(score):
            rows.append(row)
            values.append(score)
    if rows:
        lo, hi = min(values), max(values)
        if hi <= lo:
            matrix[rows, 0] = 1.0
        else:
            matrix[rows, 0] = (np.asarray(values) - lo) / (hi - lo)
    if signals is not None:
        for col, name in enumerate(names, start=1):
            scores = _signal_scores(signals, name)
            best = max((v for _, v in tops[col - 1]), default=0.0)
            if best <= 0:
                continue
            rows, values = [], []
            for item, value in scores.items():
                row = order.get(item)
                if row is not None and value:
                    rows.append(row)
                    values.append(value)
            if rows:
                matrix[rows, col] = np.asarray(values, dtype=np.float64) / best
    return list(order), matrix


def weight_vector(weights: Mapping[str, float], names: Sequence[str]) -> F64:
    """``[model, *names]`` weights (missing names weigh 0, the model 1)."""
    return np.asarray([weights.get(MODEL, 1.0), *(weights.get(n, 0.0) for n in names)], dtype=np.float64)


def context_features(
    items: Sequence[str], model_items: Sequence[Any], history_length: int, session_length: int
) -> F64:
    """``CONTEXT_FEATURES`` of each candidate (rows in ``items`` order)."""
    out = np.zeros((len(items), len(CONTEXT_FEATURES)))
    out[:, 0] = math.log1p(history_length)
    out[:, 1] = float(session_length)
    position = {k: 2 + i for i, k in enumerate(KINDS)}
    sources = {s.item_id: s.sources for s in model_items}
    for row, item in enumerate(items):
        for source in sources.get(item, ()):
            col = position.get(source)
            if col is not None:
                out[row, col] = 1.0
    return out


class StreamRanker:
    """A LightGBM lambdarank correction on top of the weighted blend, learned on point-in-time
    replay rows (:func:`fit_stream_ranker`): ``score = blend + f([columns, context])``."""

    def __init__(self, model_text: str) -> None:
        import lightgbm

        self.model_text = model_text
        self._booster = lightgbm.Booster(model_str=model_text)

    def score(self, matrix: F64, context: F64, linear: F64) -> F64:
        """The ranker's scores of one request's candidates."""
        if not matrix.shape[0]:
            return linear
        features = np.hstack([matrix, context])
        return linear + np.asarray(self._booster.predict(features, num_threads=1), dtype=np.float64)


def blend(
    model_items: Sequence[Any],
    signals: StreamSignals | None,
    weights: Mapping[str, float],
    names: Sequence[str],
    n: int,
    exclude: Collection[str] = (),
    include: Sequence[str] | None = None,
    ranker: StreamRanker | None = None,
    lengths: tuple[int, int] = (0, 0),
) -> list[BlendedItem]:
    """The ``n`` best candidates of the model and the streaming signals, by weighted column sum,
    corrected by the model's stream ``ranker`` when it has one (``lengths``: the user's history
    and session lengths, its context); with ``include``: exactly those items, ordered.

    An item keeps the model's reason and sources when the model returned it; a streaming-only
    item gets the reason of its strongest weighted signal.
    """
    items, matrix = columns(model_items, signals, names, exclude, include=include)
    if not items:
        return []
    w = weight_vector(weights, names)
    score = matrix @ w
    if ranker is not None:
        score = ranker.score(matrix, context_features(items, model_items, *lengths), score)
    best = np.lexsort((np.arange(len(items)), -score))[:n]
    by_model = {s.item_id: s for s in model_items}
    # Per-row numpy scalar work done once for all chosen rows (same products, same argmax).
    contrib = matrix[best] * w
    positive = (contrib[:, 1:] > 0).tolist()
    strongest = np.argmax(contrib[:, 1:], axis=1).tolist() if len(names) else [0] * len(best)
    from_model = (matrix[best, 0] > 0).tolist()
    chosen_scores = score[best].tolist()
    out = []
    for k, row in enumerate(best.tolist()):
        item = items[row]
        stream = tuple(name for name, hit in zip(names, positive[k], strict=True) if hit)
        own = by_model.get(item)
        if own is not None and from_model[k]:
            out.append(BlendedItem(item, chosen_scores[k], own.reason, (*own.sources, *stream)))
            continue
        top = names[strongest[k]] if stream else ""
        reason = REASONS.get(top, "trending now") if stream else (own.reason if own else "popular now")
        out.append(BlendedItem(item, chosen_scores[k], reason, stream or tuple(own.sources if own else ())))
    return out


# -- tuning (training time) ---------------------------------------------------------------------

WEIGHT_GRID = (0.0, 0.1, 0.3, 1.0, 3.0)
#: The blend may cost the long-horizon relevance (every later hold-out item of the user) at most
#: this share of the model's own: streaming signals must not trade what a user goes on to consume
#: for a better guess of the next click (MovieLens-like tenants lost a quarter of their nDCG so).
FUTURE_TOLERANCE = 0.0
#: The blend's next-event gain over the model alone must be this many standard errors clear.
MIN_Z = 3.0
TUNE_K = 10
#: Hold-out events replayed point in time for tuning, the stream ranker and the gate. On G1 news
#: (4 h of history) 1,500 left the stream ranker's out-of-fold gain at z 1.6, 3,000 at z 3.0: the
#: paired standard error shrinks with the square root of the events.
REPLAY_EVENTS = 3000


@dataclass
class ReplayCase:
    matrix: F64
    target: int  # row of the target item, -1 when it is not among the candidates
    user: str = ""
    future: tuple[int, ...] = ()
    """Rows of the user's later hold-out items (the target included) among the candidates."""
    n_future: int = 0
    """How many distinct later hold-out items the user has (reachable or not)."""
    context: F64 | None = None
    """``CONTEXT_FEATURES`` of each candidate (the stream ranker's extra inputs)."""

    def features(self) -> F64:
        """The stream ranker's input rows: the blend columns, then the context."""
        if self.context is None:
            return self.matrix
        return np.hstack([self.matrix, self.context])


def _gains(cases: list[ReplayCase], w: F64, k: int = TUNE_K) -> F64:
    """Each case's nDCG@k of its next-event item (0 when it is not among the candidates)."""
    return _gains_of(cases, [case.matrix @ w for case in cases], k)


def _gains_of(cases: list[ReplayCase], scores: Sequence[F64], k: int = TUNE_K) -> F64:
    """Each case's nDCG@k of its next-event item under the given per-case scores."""
    out = np.zeros(len(cases))
    for i, (case, case_scores) in enumerate(zip(cases, scores, strict=True)):
        if case.target < 0:
            continue
        t = case_scores[case.target]
        rank = int((case_scores > t).sum()) + int((case_scores[: case.target] == t).sum())
        if rank < k:
            out[i] = 1.0 / math.log2(rank + 2)
    return out


def _ndcg(cases: list[ReplayCase], w: F64, k: int = TUNE_K) -> float:
    return float(_gains(cases, w, k).mean()) if cases else 0.0


def _future_ndcg(cases: list[ReplayCase], w: F64, k: int = TUNE_K) -> float:
    """nDCG@k with every later hold-out item of the user relevant (the long-horizon view: what
    the user goes on to consume, not only the next click)."""
    return _future_ndcg_of(cases, [case.matrix @ w for case in cases], k)


def _future_ndcg_of(cases: list[ReplayCase], scores_of: Sequence[F64], k: int = TUNE_K) -> float:
    """:func:`_future_ndcg` under the given per-case scores."""
    total = 0.0
    for case, scores in zip(cases, scores_of, strict=True):
        if not case.future:
            continue
        top = np.lexsort((np.arange(scores.shape[0]), -scores))[:k]
        hits = np.isin(top, case.future)
        dcg = float((hits / np.log2(np.arange(2, top.shape[0] + 2))).sum())
        ideal = float((1.0 / np.log2(np.arange(2, min(case.n_future, k) + 2))).sum())
        total += dcg / ideal if ideal > 0 else 0.0
    return total / max(len(cases), 1)


def replay_cases(
    model: Any,
    events: Iterable[tuple[str, str, float, float, str | None]],
    holdout_from: float,
    config: StreamingConfig | None = None,
    *,
    max_cases: int = REPLAY_EVENTS,
    pool: int = 100,
    seed: int = 42,
    published: Mapping[str, float] | None = None,
) -> list[ReplayCase]:
    """Point-in-time replay: what serving would have computed before each sampled hold-out event.

    Replays ``events`` (``user_id, item_id, weight, unix seconds, session_id``; positive weights)
    in time order through the streaming state in memory. For a sample of the events after
    ``holdout_from`` (which ``model`` never saw), before the event is applied: the user's history
    and session as serving reads them, the model's list and the signals as serving computes them,
    and the event's item as the target (events on an item the user already had are skipped: the
    served list leaves those out). ``published`` (item -> unix seconds of publication, from the
    catalog) feeds the ``fresh`` signal: an item joins it once the replay's clock passes that time,
    as a catalog import does live.
    """
    from recsys_platform.streaming.memory import MemoryItemStats

    config = config or StreamingConfig()
    names = signal_names(config)
    rows = sorted(events, key=lambda e: e[3])
    test = [i for i, e in enumerate(rows) if e[3] > holdout_from]
    rng = np.random.default_rng(seed)
    sampled = set(rng.choice(test, size=min(max_cases, len(test)), replace=False).tolist()) if test else set()
    store = MemoryItemStats(config)
    tenant = "replay"
    histories: dict[str, list[str]] = {}
    sessions: dict[str, list[str]] = {}
    pending: list[ItemEvent] = []
    cases: list[ReplayCase] = []
    later: dict[str, list[str]] = {}  # each user's hold-out items in time order
    for user, item, _, ts, _ in rows:
        if ts > holdout_from:
            later.setdefault(user, []).append(item)
    consumed: dict[str, int] = {}  # how many of the user's hold-out events came before
    releases = sorted((t, i) for i, t in (published or {}).items() if math.isfinite(t))
    released = 0
    for i, (user, item, weight, ts, session) in enumerate(rows):
        key = session if session is not None else "u:" + user
        if i in sampled:
            if pending:
                store.apply(tenant, pending)
                pending = []
            history = histories.get(user, [])
            if item not in history:
                session_items = sessions.get(key, [])
                signals = store.signals(tenant, session_items, k=SIGNAL_CANDIDATES, exclude_session=key)
                if releases:
                    start = released
                    while released < len(releases) and releases[released][0] <= ts:
                        released += 1
                    if released > start:
                        store.add_items(tenant, [(i, int(t * 1000)) for t, i in releases[start:released]])
                    newest = store.fresh(tenant, FRESH_ITEMS)
                    signals = replace(signals, fresh=fresh_scores(newest, signals.watermark_ms))
                listed = model.recommend(history, pool, exclude=history)
                items, matrix = columns(listed, signals, names, set(history))
                context = context_features(items, listed, len(history), len(session_items))
                row = {it: r for r, it in enumerate(items)}
                ahead = [
                    it for it in dict.fromkeys(later[user][consumed.get(user, 0) :]) if it not in history
                ]
                future = tuple(row[it] for it in ahead if it in row)
                cases.append(ReplayCase(matrix, row.get(item, -1), user, future, len(ahead), context))
        if ts > holdout_from:
            consumed[user] = consumed.get(user, 0) + 1
        pending.append(ItemEvent(f"e{i}", user, item, int(ts * 1000), session, float(weight)))
        hist = histories.setdefault(user, [])
        if item in hist:
            hist.remove(item)
        hist.insert(0, item)
        sess = sessions.setdefault(key, [])
        if item in sess:
            sess.remove(item)
        sess.insert(0, item)
        del sess[config.session_max_items :]
    return cases


def replay_ndcg(
    cases: list[ReplayCase],
    weights: Mapping[str, float],
    config: StreamingConfig | None = None,
    ranker: StreamRanker | None = None,
) -> float:
    """nDCG@10 of what serving computes on replayed cases: the blend with ``weights`` (empty: the
    model alone), corrected by the stream ``ranker`` when the model has one."""
    w = weight_vector(weights, signal_names(config or StreamingConfig()))
    if ranker is None:
        return _ndcg(cases, w)
    scores = [ranker.score(c.matrix, _context(c), c.matrix @ w) for c in cases]
    return float(_gains_of(cases, scores).mean()) if cases else 0.0


def _context(case: ReplayCase) -> F64:
    if case.context is None:
        return np.zeros((case.matrix.shape[0], len(CONTEXT_FEATURES)))
    return case.context


#: The stream ranker is fitted only with at least this many replayed events whose item was among
#: the candidates (fewer: the weighted blend alone).
RANKER_MIN_CASES = 300
RANKER_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [TUNE_K],
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "lambda_l2": 10.0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
RANKER_ROUNDS = 300


def _fit_booster(
    cases: list[ReplayCase], w: F64, rounds: int, seed: int, valid: list[ReplayCase] | None
) -> Any:
    import lightgbm

    def dataset(part: list[ReplayCase]) -> Any:
        labels = []
        for c in part:
            label = np.zeros(c.matrix.shape[0])
            label[c.target] = 1.0
            labels.append(label)
        return lightgbm.Dataset(
            np.vstack([np.hstack([c.matrix, _context(c)]) for c in part]),
            label=np.concatenate(labels),
            group=[c.matrix.shape[0] for c in part],
            init_score=np.concatenate([c.matrix @ w for c in part]),
            free_raw_data=False,
        )

    params = {**RANKER_PARAMS, "seed": seed, "feature_fraction_seed": seed}
    train = dataset(cases)
    if valid:
        return lightgbm.train(
            params,
            train,
            num_boost_round=rounds,
            valid_sets=[dataset(valid)],
            callbacks=[lightgbm.early_stopping(30, verbose=False)],
        )
    return lightgbm.train(params, train, num_boost_round=rounds)


def fit_stream_ranker(
    cases: list[ReplayCase],
    weights: Mapping[str, float],
    config: StreamingConfig | None = None,
    *,
    seed: int = 42,
) -> tuple[str | None, dict[str, float]]:
    """A LightGBM lambdarank correction of the weighted blend, learned on point-in-time replay rows.

    Every replayed hold-out event is one ranking group: the candidates serving would have had (the
    model's list and each signal's top items) with the blend columns and ``CONTEXT_FEATURES`` as
    they were before the event, the event's item the positive. Two-fold cross-fitting by user
    gives each event an out-of-fold score; the ranker is kept only when its next-event nDCG@10
    beats the weighted blend's by ``MIN_Z`` standard errors (paired) and its long-horizon nDCG@10
    is no lower than the blend's. The kept ranker is refitted on every event.

    Returns:
        ``(model_text or None, report)``.
    """
    names = signal_names(config or StreamingConfig())
    w = weight_vector(weights, names)
    usable = [c for c in cases if c.target >= 0 and c.context is not None]
    report: dict[str, float] = {"ranker_cases": float(len(usable))}
    if len(usable) < RANKER_MIN_CASES:
        return None, report
    users = sorted({c.user for c in cases})
    order = np.random.default_rng(seed).permutation(len(users))
    fold_of = {u: int(order[i] % 2) for i, u in enumerate(users)}
    scores: list[F64 | None] = [None] * len(cases)
    rounds = []
    for fold in (0, 1):
        fit_on = [c for c in usable if fold_of[c.user] != fold]
        cut = int(len(fit_on) * 0.8)
        booster = _fit_booster(fit_on[:cut], w, RANKER_ROUNDS, seed, fit_on[cut:])
        rounds.append(max(int(booster.best_iteration or booster.current_iteration()), 1))
        for i, c in enumerate(cases):
            if fold_of[c.user] == fold:
                raw = booster.predict(np.hstack([c.matrix, _context(c)]), num_threads=1)
                scores[i] = c.matrix @ w + np.asarray(raw, dtype=np.float64)
    oof = [s if s is not None else c.matrix @ w for s, c in zip(scores, cases, strict=True)]
    diff = _gains_of(cases, oof) - _gains(cases, w)
    spread = float(diff.std(ddof=1)) / math.sqrt(len(cases)) if len(cases) > 1 else 0.0
    z = float(diff.mean()) / spread if spread > 0 else 0.0
    ranker_future = _future_ndcg_of(cases, oof)
    blend_future = _future_ndcg(cases, w)
    report.update(
        {
            "ranker_ndcg_at_10": float(_gains_of(cases, oof).mean()),
            "ranker_gain_z": z,
            "ranker_future_ndcg_at_10": ranker_future,
            "ranker_rounds": float(np.mean(rounds)),
        }
    )
    kept = z >= MIN_Z and ranker_future >= blend_future
    report["ranker_kept"] = float(kept)
    if not kept:
        return None, report
    final = _fit_booster(usable, w, int(np.mean(rounds)), seed, None)
    return str(final.model_to_string()), report


def tune_stream_weights(
    model: Any,
    events: Iterable[tuple[str, str, float, float, str | None]],
    holdout_from: float,
    config: StreamingConfig | None = None,
    *,
    max_cases: int = REPLAY_EVENTS,
    seed: int = 42,
    cases: list[ReplayCase] | None = None,
    published: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Weights of the model and each streaming signal that rank the next event's item best
    (``cases``: the :func:`replay_cases` of these events, when the caller has them already;
    ``published``: the catalog's publish times, for the ``fresh`` signal).

    On :func:`replay_cases` of the hold-out, coordinate ascent over ``WEIGHT_GRID`` maximises
    nDCG@10 of the next event's item, among the weights that keep the long-horizon nDCG@10
    (every later hold-out item of the user relevant) within ``FUTURE_TOLERANCE`` of the model
    alone's. The model alone (all signal weights 0) is the start, so the result is never worse
    than it on these events by either measure beyond that tolerance.

    Returns:
        ``(weights, report)``: ``weights`` has ``model`` and every signal name; ``report`` has the
        cases, the share whose target was among the candidates (``reachable``) and the nDCG@10 of
        the model alone, of recent-popular (the shortest trending window alone) and of the blend.
    """
    config = config or StreamingConfig()
    names = signal_names(config)
    rows = list(events)
    # Session signals need sessions: without session ids a user's whole stream would stand in
    # for one, and its order (a rating UI's, a backfill's) is not a session's.
    tunable = names if any(r[4] is not None for r in rows) else [n for n in names if n not in SESSION_SIGNALS]
    if cases is None:
        cases = replay_cases(
            model, rows, holdout_from, config, max_cases=max_cases, seed=seed, published=published
        )
    model_only = {MODEL: 1.0, **dict.fromkeys(names, 0.0)}
    if not cases:
        return model_only, {"cases": 0.0}
    best = dict(model_only)
    best_score = base = _ndcg(cases, weight_vector(best, names))
    base_future = _future_ndcg(cases, weight_vector(best, names))
    floor = base_future * (1.0 - FUTURE_TOLERANCE)
    for _ in range(2):
        for name in [MODEL, *tunable]:
            for value in WEIGHT_GRID:
                trial = {**best, name: value}
                if not any(trial.values()):
                    continue
                w = weight_vector(trial, names)
                score = _ndcg(cases, w)
                if score > best_score + 1e-9 and _future_ndcg(cases, w) >= floor:
                    best, best_score = trial, score
    # Keep the blend only when its gain over the model alone is clear of the replay's noise: a
    # paired z-test on the per-event difference (1,500 events leave a standard error of a few
    # thousandths of nDCG; a "gain" within it is as likely a loss on the tenant's traffic).
    diff = _gains(cases, weight_vector(best, names)) - _gains(cases, weight_vector(model_only, names))
    spread = float(diff.std(ddof=1)) / math.sqrt(len(cases)) if len(cases) > 1 else 0.0
    z = float(diff.mean()) / spread if spread > 0 else 0.0
    if best != model_only and z < MIN_Z:
        best, best_score = dict(model_only), base
    recent = {MODEL: 0.0, f"trending_{min(config.trending_windows_s)}": 1.0}
    report = {
        "cases": float(len(cases)),
        "reachable": float(sum(c.target >= 0 for c in cases)) / len(cases),
        "users": float(len({c.user for c in cases})),
        "reachable_users": float(len({c.user for c in cases if c.target >= 0})),
        "model_ndcg_at_10": base,
        "recent_popular_ndcg_at_10": _ndcg(cases, weight_vector(recent, names)),
        "blend_ndcg_at_10": best_score,
        "model_future_ndcg_at_10": base_future,
        "blend_future_ndcg_at_10": _future_ndcg(cases, weight_vector(best, names)),
        "blend_gain_z": z,
    }
    return best, report
