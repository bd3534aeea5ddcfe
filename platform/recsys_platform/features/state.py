"""A user's real-time state and how one event changes it (pure logic, no I/O).

The state is one online-store row per (tenant, user). It also carries the ids of
the most recent events applied to it, so re-delivered events (at-least-once from
the log) are recognised and applied exactly once: the dedup record lives in the
same row it protects, written atomically with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

RECENT_ITEMS = 50
APPLIED_IDS = 500
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


@dataclass(frozen=True)
class UserState:
    """What the online store holds for one user of one tenant."""

    user_id: str
    recent_items: tuple[str, ...] = ()
    """Items interacted with, most recent first (at most ``RECENT_ITEMS``)."""
    session_id: str | None = None
    session_clicks: int = 0
    """Clicks (click, view, watch) in ``session_id``."""
    category_affinity: dict[str, float] = field(default_factory=dict)
    """Time-decayed interest per category, as of ``last_event_ms``."""
    last_event_ms: int = 0
    event_count: int = 0
    applied_event_ids: tuple[str, ...] = ()
    """Ids of the most recent events applied (at most ``APPLIED_IDS``), newest first."""

    def has_applied(self, event_id: str) -> bool:
        return event_id in self.applied_event_ids


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


def apply_event(state: UserState, event: AppliedEvent, half_life_s: float) -> UserState:
    """The state after ``event``; unchanged if the event was applied before.

    Affinities decay exponentially with ``half_life_s`` between events. Events older
    than the state's last event still count (they decay to the state's time) but do
    not move ``last_event_ms`` back.
    """
    if state.has_applied(event.event_id):
        return state
    weight = INTEREST_WEIGHTS.get(event.type, 0.0)
    if event.type == "rating" and event.value is not None:
        weight = (event.value - 2.5) / 2.5  # 1..5 stars -> -0.6..+1.0
    now_ms = max(state.last_event_ms, event.timestamp_ms)
    affinity = _decayed(state.category_affinity, state.last_event_ms, now_ms, half_life_s)
    if weight and event.categories:
        age_s = max(0.0, (now_ms - event.timestamp_ms) / 1000)
        w = weight * _decay_factor(age_s, half_life_s) / len(event.categories)
        for c in event.categories:
            affinity[c] = affinity.get(c, 0.0) + w
    recent = state.recent_items
    if event.item_id is not None and weight > 0:
        recent = (event.item_id, *[i for i in recent if i != event.item_id])[:RECENT_ITEMS]
    session_id, session_clicks = state.session_id, state.session_clicks
    late = event.timestamp_ms < state.last_event_ms  # a late event must not reopen an old session
    if event.session_id is not None and event.session_id != session_id and not late:
        session_id, session_clicks = event.session_id, 0
    if event.type in CLICK_TYPES and (event.session_id is None or event.session_id == session_id):
        session_clicks += 1
    return replace(
        state,
        recent_items=recent,
        session_id=session_id,
        session_clicks=session_clicks,
        category_affinity={k: round(v, 6) for k, v in affinity.items() if abs(v) >= 1e-4},
        last_event_ms=now_ms,
        event_count=state.event_count + 1,
        applied_event_ids=(event.event_id, *state.applied_event_ids)[:APPLIED_IDS],
    )


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
        "session_id": state.session_id or "",
        "session_clicks": state.session_clicks,
        "category_affinity": json.dumps(state.category_affinity, sort_keys=True),
        "last_event_ms": state.last_event_ms,
        "event_count": state.event_count,
        "applied_event_ids": list(state.applied_event_ids),
    }


def row_to_state(row: dict[str, Any]) -> UserState:
    import json

    return UserState(
        user_id=str(row["user_id"]),
        recent_items=tuple(row.get("recent_items") or ()),
        session_id=row.get("session_id") or None,
        session_clicks=int(row.get("session_clicks") or 0),
        category_affinity=json.loads(row.get("category_affinity") or "{}"),
        last_event_ms=int(row.get("last_event_ms") or 0),
        event_count=int(row.get("event_count") or 0),
        applied_event_ids=tuple(row.get("applied_event_ids") or ()),
    )
