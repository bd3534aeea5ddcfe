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
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals

MODEL = "model"
SESSION_SIGNALS = ("session_knn", "covisit", "next_item")
#: Candidates each signal adds to the pool.
SIGNAL_CANDIDATES = 100
F64 = npt.NDArray[np.float64]


def signal_names(config: StreamingConfig) -> list[str]:
    """The streaming columns, in a fixed order: session signals, then one per trending window."""
    return [*SESSION_SIGNALS, *(f"trending_{w}" for w in config.trending_windows_s)]


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
    finite = [float(s.score) for s in model_items if s.item_id in order and math.isfinite(float(s.score))]
    if finite:
        lo, hi = min(finite), max(finite)
        for s in model_items:
            row = order.get(s.item_id)
            if row is not None and math.isfinite(float(s.score)):
                matrix[row, 0] = 1.0 if hi <= lo else (float(s.score) - lo) / (hi - lo)
    if signals is not None:
        for col, name in enumerate(names, start=1):
            scores = _signal_scores(signals, name)
            best = max((v for _, v in tops[col - 1]), default=0.0)
            if best <= 0:
                continue
            for item, row in order.items():
                value = scores.get(item)
                if value:
                    matrix[row, col] = value / best
    return list(order), matrix


def weight_vector(weights: Mapping[str, float], names: Sequence[str]) -> F64:
    """``[model, *names]`` weights (missing names weigh 0, the model 1)."""
    return np.asarray([weights.get(MODEL, 1.0), *(weights.get(n, 0.0) for n in names)], dtype=np.float64)


def blend(
    model_items: Sequence[Any],
    signals: StreamSignals | None,
    weights: Mapping[str, float],
    names: Sequence[str],
    n: int,
    exclude: Collection[str] = (),
    include: Sequence[str] | None = None,
) -> list[BlendedItem]:
    """The ``n`` best candidates of the model and the streaming signals, by weighted column sum
    (with ``include``: exactly those items, ordered).

    An item keeps the model's reason and sources when the model returned it; a streaming-only
    item gets the reason of its strongest weighted signal.
    """
    items, matrix = columns(model_items, signals, names, exclude, include=include)
    if not items:
        return []
    w = weight_vector(weights, names)
    score = matrix @ w
    best = np.lexsort((np.arange(len(items)), -score))[:n]
    by_model = {s.item_id: s for s in model_items}
    out = []
    for row in best:
        item = items[row]
        contrib = matrix[row] * w
        stream = tuple(names[c - 1] for c in range(1, len(w)) if contrib[c] > 0)
        own = by_model.get(item)
        if own is not None and matrix[row, 0] > 0:
            out.append(BlendedItem(item, float(score[row]), own.reason, (*own.sources, *stream)))
            continue
        top = names[int(np.argmax(contrib[1:]))] if stream else ""
        reason = REASONS.get(top, "trending now") if stream else (own.reason if own else "popular now")
        out.append(BlendedItem(item, float(score[row]), reason, stream or tuple(own.sources if own else ())))
    return out


# -- tuning (training time) ---------------------------------------------------------------------

WEIGHT_GRID = (0.0, 0.1, 0.3, 1.0, 3.0)
TUNE_K = 10


@dataclass
class _Case:
    matrix: F64
    target: int  # row of the target item, -1 when it is not among the candidates
    user: str = ""


def _ndcg(cases: list[_Case], w: F64, k: int = TUNE_K) -> float:
    total = 0.0
    for case in cases:
        if case.target < 0:
            continue
        scores = case.matrix @ w
        t = scores[case.target]
        rank = int((scores > t).sum()) + int((scores[: case.target] == t).sum())
        if rank < k:
            total += 1.0 / math.log2(rank + 2)
    return total / max(len(cases), 1)


def replay_cases(
    model: Any,
    events: Iterable[tuple[str, str, float, float, str | None]],
    holdout_from: float,
    config: StreamingConfig | None = None,
    *,
    max_cases: int = 1500,
    pool: int = 100,
    seed: int = 42,
) -> list[_Case]:
    """Point-in-time replay: what serving would have computed before each sampled hold-out event.

    Replays ``events`` (``user_id, item_id, weight, unix seconds, session_id``; positive weights)
    in time order through the streaming state in memory. For a sample of the events after
    ``holdout_from`` (which ``model`` never saw), before the event is applied: the user's history
    and session as serving reads them, the model's list and the signals as serving computes them,
    and the event's item as the target (events on an item the user already had are skipped: the
    served list leaves those out).
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
    cases: list[_Case] = []
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
                listed = model.recommend(history, pool, exclude=history)
                items, matrix = columns(listed, signals, names, set(history))
                cases.append(_Case(matrix, items.index(item) if item in items else -1, user))
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
    cases: list[_Case], weights: Mapping[str, float], config: StreamingConfig | None = None
) -> float:
    """nDCG@10 of the blend with ``weights`` on replayed cases (empty weights: the model alone)."""
    return _ndcg(cases, weight_vector(weights, signal_names(config or StreamingConfig())))


def tune_stream_weights(
    model: Any,
    events: Iterable[tuple[str, str, float, float, str | None]],
    holdout_from: float,
    config: StreamingConfig | None = None,
    *,
    max_cases: int = 1500,
    seed: int = 42,
) -> tuple[dict[str, float], dict[str, float]]:
    """Weights of the model and each streaming signal that rank the next event's item best.

    On :func:`replay_cases` of the hold-out, coordinate ascent over ``WEIGHT_GRID`` maximises
    nDCG@10 of the target; the model alone (all signal weights 0) is the start, so the result
    is never worse than it on these events.

    Returns:
        ``(weights, report)``: ``weights`` has ``model`` and every signal name; ``report`` has the
        cases, the share whose target was among the candidates (``reachable``) and the nDCG@10 of
        the model alone, of recent-popular (the shortest trending window alone) and of the blend.
    """
    config = config or StreamingConfig()
    names = signal_names(config)
    cases = replay_cases(model, events, holdout_from, config, max_cases=max_cases, seed=seed)
    model_only = {MODEL: 1.0, **dict.fromkeys(names, 0.0)}
    if not cases:
        return model_only, {"cases": 0.0}
    best = dict(model_only)
    best_score = base = _ndcg(cases, weight_vector(best, names))
    for _ in range(2):
        for name in [MODEL, *names]:
            for value in WEIGHT_GRID:
                trial = {**best, name: value}
                if not any(trial.values()):
                    continue
                score = _ndcg(cases, weight_vector(trial, names))
                if score > best_score + 1e-9:
                    best, best_score = trial, score
    recent = {MODEL: 0.0, f"trending_{min(config.trending_windows_s)}": 1.0}
    report = {
        "cases": float(len(cases)),
        "reachable": float(sum(c.target >= 0 for c in cases)) / len(cases),
        "users": float(len({c.user for c in cases})),
        "reachable_users": float(len({c.user for c in cases if c.target >= 0})),
        "model_ndcg_at_10": base,
        "recent_popular_ndcg_at_10": _ndcg(cases, weight_vector(recent, names)),
        "blend_ndcg_at_10": best_score,
    }
    return best, report
