"""Serving-side scoring from raw streaming state: co-visitation and V-SkNN (pure functions)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import itemgetter

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import StreamSignals, top_items

#: The ``(score, id)`` key of a ``(id, score)`` pair: higher score first, ties to the larger id.
_SCORE_THEN_ID = itemgetter(1, 0)


def current_session(session_items: Sequence[str], max_items: int) -> list[str]:
    """The session ``signals()`` scores: first occurrences, most recent first, at most ``max_items``."""
    seen: set[str] = set()
    out: list[str] = []
    for item in session_items:
        if item not in seen:
            seen.add(item)
            out.append(item)
            if len(out) == max_items:
                break
    return out


def position_weights(n: int) -> list[float]:
    """Linear decay over a session of ``n`` items, most recent first: 1, (n-1)/n, ..., 1/n."""
    return [(n - i) / n for i in range(n)]


def covisit_scores(weights: Sequence[float], neighbours: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Sum of each session item's neighbour counts, weighted by that item's recency weight."""
    scores: dict[str, float] = {}
    for weight, counts in zip(weights, neighbours, strict=True):
        for item, count in counts.items():
            scores[item] = scores.get(item, 0.0) + weight * count
    return scores


def select_candidates(
    item_sessions: Iterable[Iterable[tuple[str, float]]], sample: int, exclude: str | None
) -> list[str]:
    """The ``sample`` most recent sessions containing any session item (ties: larger id first)."""
    latest: dict[str, float] = {}
    get = latest.get
    for sessions in item_sessions:
        for session, score in sessions:
            if score > get(session, -math.inf) and session != exclude:
                latest[session] = score
    return [s for s, _ in heapq.nlargest(sample, latest.items(), key=_SCORE_THEN_ID)]


def session_knn_scores(
    session: Sequence[str],
    weights: Sequence[float],
    candidates: Sequence[str],
    items_of: Mapping[str, Collection[str]],
    neighbours: int,
) -> dict[str, float]:
    """V-SkNN (Ludewig & Jannach 2018).

    Similarity of a candidate session = sum over the items it shares with the current session of
    their position weights; the ``neighbours`` most similar candidates vote for each of their items
    with their similarity.
    """
    similarities: list[tuple[str, float]] = []
    weighted = list(zip(session, weights, strict=True))
    for candidate in candidates:
        its = items_of.get(candidate)
        if not its:
            continue
        # Summed in the current session's order so every backend adds in the same order.
        similarity = 0.0
        for item, weight in weighted:
            if item in its:
                similarity += weight
        if similarity > 0:
            similarities.append((candidate, similarity))
    scores: dict[str, float] = {}
    get = scores.get
    for candidate, similarity in heapq.nlargest(neighbours, similarities, key=_SCORE_THEN_ID):
        for item in items_of[candidate]:
            scores[item] = get(item, 0.0) + similarity
    return scores


#: Age (event time) at which a fresh item's score halves: the newest item scores 1.
FRESH_HALF_LIFE_MS = 3_600_000
#: Newest catalog items a request considers.
FRESH_ITEMS = 100


def fresh_scores(fresh: Sequence[tuple[str, int]], watermark_ms: int | None) -> dict[str, float]:
    """Scores of the newest catalog items (``(item, publish/import ms)``): ``0.5 ** (age / 1 h)``,
    age measured from the tenant's watermark (event time; the newest item when no event yet), so
    a replay scores like live traffic. Items published after the watermark count as age 0."""
    if not fresh:
        return {}
    now = watermark_ms if watermark_ms is not None else max(ts for _, ts in fresh)
    return {item: 0.5 ** (max(now - ts, 0) / FRESH_HALF_LIFE_MS) for item, ts in fresh}


def wanted(want: Collection[str] | None) -> tuple[bool, bool]:
    """(read the transition lists, read the V-SkNN index) for the signals a caller uses."""
    if want is None:
        return True, True
    return bool({"covisit", "next_item"} & set(want)), "session_knn" in want


def finish_signals(
    config: StreamingConfig,
    k: int,
    watermark: int | None,
    trending: dict[int, dict[str, float]],
    session: Sequence[str],
    neighbour_lists: Sequence[Mapping[str, float]],
    candidates: Sequence[str],
    items_of: Mapping[str, Collection[str]],
) -> StreamSignals:
    """Assemble :class:`StreamSignals` from what an adapter read (each dict cut to ``k`` items)."""
    weights = position_weights(len(session))
    next_item = dict(top_items(neighbour_lists[0], k)) if session else {}
    covisit = dict(top_items(covisit_scores(weights, neighbour_lists), k))
    knn = session_knn_scores(session, weights, candidates, items_of, config.sknn_neighbours)
    return StreamSignals(
        watermark_ms=watermark,
        trending=trending,
        next_item=next_item,
        covisit=covisit,
        session_knn=dict(top_items(knn, k)),
    )
