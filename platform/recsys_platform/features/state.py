"""A user's real-time state and how events change it (pure logic, no I/O).

The state is one online-store row per (tenant, user). It keeps the user's interaction
history (every item the user interacted with, each once, with its summed interest weight
and last event time, most recent first, up to ``history_items``), so serving scores from
the same history the model was trained on and never returns an item the user already
interacted with. It also carries the ids of the most recent events applied to it, so
re-delivered events (at-least-once from the log) are recognised and applied exactly once:
the dedup record lives in the same row it protects, written atomically with it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

#: Default number of history items kept per user (``FeatureStoreSettings.history_items``).
HISTORY_ITEMS = 1000
#: Items kept of the current session (the streaming session-based generators read them).
SESSION_ITEMS = 50
APPLIED_IDS = 500
#: Applied ids are kept in chunks of this many; the oldest chunk leaves the window whole and
#: raises the de-duplication floor to its latest event time.
APPLIED_CHUNK = 100
#: Marks the entry of ``applied_event_ids`` in the row that holds the floor and chunks (event
#: ids contain no whitespace, so no id can look like it).
_DEDUP_MARK = "\tdedup"
#: Event types that express interest in an item, with their weight in affinities.
INTEREST_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 1.0,
    "watch": 1.0,
    "like": 2.0,
    "share": 2.0,
    "add_to_cart": 2.0,
    "purchase": 3.0,
    "rating": 1.0,
    "skip": -0.5,
    "impression": 0.0,
}
CLICK_TYPES = frozenset({"click", "view", "watch"})
#: Event types that are not an interaction of the user with the item (they never enter the history).
NOT_INTERACTIONS = frozenset({"impression"})


def interaction_weight(event_type: str, value: float | None) -> float:
    """Weight of one event in the user's history and in the training interactions.

    A rating weighs its value (stars; at least 0), other types their ``INTEREST_WEIGHTS``
    (negative for ``skip``). Training keeps the events whose weight is positive; serving
    scores from the history items whose summed weight is positive and excludes all of them.
    """
    if event_type == "rating":
        return max(float(value), 0.0) if value is not None and math.isfinite(value) else 1.0
    return INTEREST_WEIGHTS.get(event_type, 0.0)


@dataclass(frozen=True)
class UserState:
    """What the online store holds for one user of one tenant."""

    user_id: str
    recent_items: tuple[str, ...] = ()
    """Every item interacted with (any event type but impressions), most recent first, each once
    (at most ``history_items``)."""
    recent_weights: tuple[float, ...] = ()
    """Summed ``interaction_weight`` of each item of ``recent_items`` (same order)."""
    recent_times_ms: tuple[int, ...] = ()
    """Last event time of each item of ``recent_items`` (same order)."""
    session_id: str | None = None
    session_clicks: int = 0
    """Clicks (click, view, watch) in ``session_id``."""
    session_items: tuple[str, ...] = ()
    """Items clicked in ``session_id``, most recent first (at most ``SESSION_ITEMS``)."""
    category_affinity: dict[str, float] = field(default_factory=dict)
    """Time-decayed interest per category, as of ``last_event_ms``."""
    last_event_ms: int = 0
    event_count: int = 0
    applied_event_ids: tuple[str, ...] = ()
    """Ids of the most recent events applied (at most ``APPLIED_IDS``), newest first."""
    applied_chunks: tuple[tuple[int, int], ...] = ()
    """``(ids, latest event time)`` of each chunk of ``applied_event_ids``, newest first."""
    dedup_floor_ms: int = 0
    """Events at or before this time count as applied: it is the latest event time of the
    ids that left the window, so a duplicate comes back as one however late (bounded state:
    ``APPLIED_IDS`` ids and a handful of numbers). An event that is genuinely new but older
    than that is left out of the real-time row too (it is in the offline store)."""

    def has_applied(self, event_id: str) -> bool:
        return event_id in self.applied_event_ids

    @property
    def positive_items(self) -> tuple[str, ...]:
        """History items with a positive summed weight, most recent first (what models score from)."""
        if len(self.recent_weights) != len(self.recent_items):  # rows written before weights existed
            return self.recent_items
        return tuple(i for i, w in zip(self.recent_items, self.recent_weights, strict=True) if w > 0)


@dataclass(frozen=True)
class AppliedEvent:
    """The parts of an event the state needs (decoupled from the wire schema)."""

    event_id: str
    type: str
    item_id: str | None
    timestamp_ms: int
    session_id: str | None = None
    value: float | None = None
    categories: tuple[str, ...] = ()


def apply_event(
    state: UserState, event: AppliedEvent, half_life_s: float, history_items: int = HISTORY_ITEMS
) -> UserState:
    """The state after ``event``; the same object if the event was applied before."""
    return apply_events(state, [event], half_life_s, history_items)


def apply_events(
    state: UserState, events: Sequence[AppliedEvent], half_life_s: float, history_items: int = HISTORY_ITEMS
) -> UserState:
    """The state after ``events`` (applied in the given order; sort them by event time first).

    Events applied before (by id, also within ``events``) are skipped; if none is new the
    same object is returned. Affinities decay exponentially with ``half_life_s`` between
    events. Events older than the state's last event still count (they decay to the state's
    time, and an item keeps its latest time) but do not move ``last_event_ms`` back or reopen
    an old session. The history is rebuilt once per call, so a batch of a user's events
    costs one sort whatever the history length.
    """
    applied = set(state.applied_event_ids)
    fresh = []
    for e in events:
        if e.event_id not in applied and e.timestamp_ms > state.dedup_floor_ms:
            applied.add(e.event_id)
            fresh.append(e)
    if not fresh:
        return state
    ids, chunks, floor = _window(state, fresh)
    weights = _history_weights(state)
    times = dict(zip(state.recent_items, state.recent_times_ms or [0] * len(state.recent_items), strict=True))
    affinity = dict(state.category_affinity)
    # tie-breaker among equal times: stored items keep their order, later events go first
    n_old = len(state.recent_items)
    sequence = {item: n_old - k for k, item in enumerate(state.recent_items)}
    counter = itertools.count(n_old + 1)
    last_ms = state.last_event_ms
    session_id, session_clicks, session_items = (
        state.session_id,
        state.session_clicks,
        list(state.session_items),
    )
    for e in fresh:
        interest = INTEREST_WEIGHTS.get(e.type, 0.0)
        if e.type == "rating" and e.value is not None:
            interest = (e.value - 2.5) / 2.5  # 1..5 stars -> -0.6..+1.0
        now_ms = max(last_ms, e.timestamp_ms)
        affinity = _decayed(affinity, last_ms, now_ms, half_life_s)
        if interest and e.categories:
            age_s = max(0.0, (now_ms - e.timestamp_ms) / 1000)
            w = interest * _decay_factor(age_s, half_life_s) / len(e.categories)
            for c in e.categories:
                affinity[c] = affinity.get(c, 0.0) + w
        affinity = {k: round(v, 6) for k, v in affinity.items() if abs(v) >= 1e-4}
        if e.item_id is not None and e.type not in NOT_INTERACTIONS:
            weights[e.item_id] = weights.get(e.item_id, 0.0) + interaction_weight(e.type, e.value)
            if e.timestamp_ms >= times.get(e.item_id, 0):
                times[e.item_id] = e.timestamp_ms
                sequence[e.item_id] = next(counter)
        late = e.timestamp_ms < last_ms  # a late event must not reopen an old session
        if e.session_id is not None and e.session_id != session_id and not late:
            session_id, session_clicks, session_items = e.session_id, 0, []
        if e.type in CLICK_TYPES and (e.session_id is None or e.session_id == session_id):
            session_clicks += 1
            if e.item_id is not None and not late:
                session_items = [e.item_id, *(i for i in session_items if i != e.item_id)][:SESSION_ITEMS]
        last_ms = now_ms
    # most recent first; events at the same time: the one applied last first
    order = sorted(weights, key=lambda i: (-times[i], -sequence[i]))[:history_items]
    return replace(
        state,
        recent_items=tuple(order),
        recent_weights=tuple(round(weights[i], 6) for i in order),
        recent_times_ms=tuple(times[i] for i in order),
        session_id=session_id,
        session_clicks=session_clicks,
        session_items=tuple(session_items),
        category_affinity=affinity,
        last_event_ms=last_ms,
        event_count=state.event_count + len(fresh),
        applied_event_ids=ids,
        applied_chunks=chunks,
        dedup_floor_ms=floor,
    )


def _window(
    state: UserState, fresh: Sequence[AppliedEvent]
) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...], int]:
    """The applied-id window after ``fresh``: ids newest first, their chunks, the floor."""
    chunks = list(state.applied_chunks)
    for e in fresh:
        if chunks and chunks[0][0] < APPLIED_CHUNK:
            chunks[0] = (chunks[0][0] + 1, max(chunks[0][1], e.timestamp_ms))
        else:
            chunks.insert(0, (1, e.timestamp_ms))
    ids = (*(e.event_id for e in reversed(fresh)), *state.applied_event_ids)
    floor = state.dedup_floor_ms
    while sum(n for n, _ in chunks) > APPLIED_IDS:
        n, latest = chunks.pop()
        floor = max(floor, latest)
        ids = ids[:-n] if len(ids) > n else ()
    # ids of rows written before chunks were kept have no chunk: the oldest, cut first
    return ids[:APPLIED_IDS], tuple(chunks), floor


def _history_weights(state: UserState) -> dict[str, float]:
    if len(state.recent_weights) == len(state.recent_items):
        return dict(zip(state.recent_items, state.recent_weights, strict=True))
    return dict.fromkeys(state.recent_items, 1.0)  # a row written before weights were kept


def _decay_factor(age_s: float, half_life_s: float) -> float:
    return math.pow(0.5, age_s / half_life_s) if half_life_s > 0 else 1.0


def _decayed(affinity: dict[str, float], from_ms: int, to_ms: int, half_life_s: float) -> dict[str, float]:
    if not affinity or to_ms <= from_ms:
        return dict(affinity)
    f = _decay_factor((to_ms - from_ms) / 1000, half_life_s)
    return {k: v * f for k, v in affinity.items()}


def state_to_row(state: UserState) -> dict[str, Any]:
    """Flat row for an online store (lists stay lists; the affinity map as JSON text)."""
    import json

    return {
        "user_id": state.user_id,
        "recent_items": list(state.recent_items),
        "recent_weights": [float(w) for w in state.recent_weights],
        "recent_times_ms": list(state.recent_times_ms),
        "session_id": state.session_id or "",
        "session_clicks": state.session_clicks,
        "session_items": list(state.session_items),
        "category_affinity": json.dumps(state.category_affinity, sort_keys=True),
        "last_event_ms": state.last_event_ms,
        "event_count": state.event_count,
        "applied_event_ids": [*state.applied_event_ids, *_dedup_entry(state)],
    }


def _dedup_entry(state: UserState) -> list[str]:
    if not state.applied_chunks and not state.dedup_floor_ms:
        return []
    chunks = ",".join(f"{n}:{t}" for n, t in state.applied_chunks)
    return [f"{_DEDUP_MARK} {state.dedup_floor_ms} {chunks}"]


def _split_dedup(entries: Sequence[str]) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...], int]:
    ids = tuple(e for e in entries if not e.startswith(_DEDUP_MARK))
    for e in entries:
        if e.startswith(_DEDUP_MARK):
            _, floor, *rest = e.split(" ")
            pairs = [c.split(":") for c in rest[0].split(",") if c] if rest else []
            return ids, tuple((int(n), int(t)) for n, t in pairs), int(floor)
    return ids, (), 0


def row_to_state(row: dict[str, Any]) -> UserState:
    import json

    items = tuple(row.get("recent_items") or ())
    ids, chunks, floor = _split_dedup(row.get("applied_event_ids") or ())
    weights = tuple(float(w) for w in (row.get("recent_weights") or ()))
    times = tuple(int(t) for t in (row.get("recent_times_ms") or ()))
    return UserState(
        user_id=str(row["user_id"]),
        recent_items=items,
        recent_weights=weights if len(weights) == len(items) else (),
        recent_times_ms=times if len(times) == len(items) else (),
        session_id=row.get("session_id") or None,
        session_clicks=int(row.get("session_clicks") or 0),
        session_items=tuple(row.get("session_items") or ()),
        category_affinity=json.loads(row.get("category_affinity") or "{}"),
        last_event_ms=int(row.get("last_event_ms") or 0),
        event_count=int(row.get("event_count") or 0),
        applied_event_ids=ids,
        applied_chunks=chunks,
        dedup_floor_ms=floor,
    )
