"""What the streaming state consumes (item events) and what serving reads (stream signals)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemEvent:
    """One user interaction with an item, on event time.

    Attributes:
        event_id: Unique id; an id applied before is skipped (exactly once under redelivery).
        user_id: The user who interacted.
        item_id: The item, whether or not it is in the catalog yet (news is clicked before import).
        timestamp_ms: Event time in milliseconds since the epoch.
        session_id: The session; ``None`` makes the user's own stream the session (``"u:" + user_id``).
        weight: Interest weight; events with ``weight <= 0`` are ignored.
    """

    event_id: str
    user_id: str
    item_id: str
    timestamp_ms: int
    session_id: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        # Validated here so a batch can never fail halfway through a store's write.
        for name in ("event_id", "user_id", "item_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if self.session_id is not None and (not isinstance(self.session_id, str) or not self.session_id):
            raise ValueError("session_id must be None or a non-empty string")
        if isinstance(self.timestamp_ms, bool) or not isinstance(self.timestamp_ms, int):
            raise ValueError("timestamp_ms must be an int")
        if not 0 <= self.timestamp_ms < 2**53:
            raise ValueError("timestamp_ms must be between 0 and 2**53")
        if not isinstance(self.weight, int | float) or not math.isfinite(self.weight):
            raise ValueError("weight must be a finite number")

    @property
    def session_key(self) -> str:
        """The session the event belongs to (``"u:" + user_id`` without a session id)."""
        return self.session_id if self.session_id is not None else "u:" + self.user_id


def top_items(scores: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` highest scores; ties go to the larger item id (the order of Redis ZREVRANGE)."""
    if k <= 0:
        return []
    return heapq.nlargest(k, scores.items(), key=lambda kv: (kv[1], kv[0]))


@dataclass(frozen=True)
class StreamSignals:
    """Everything serving reads from the streaming state for one request.

    Attributes:
        watermark_ms: Max event time applied for the tenant (``None``: nothing applied yet).
        trending: ``window_s -> {item: weighted count in (watermark - window, watermark]}``.
        next_item: Items that followed the session's last item (weighted transition counts).
        covisit: Items that followed any session item, weighted by that item's recency in the
            session (most recent = 1, linear decay).
        session_knn: V-SkNN scores (Ludewig & Jannach 2018) for the session.
        fresh: The newest catalog items by publish/import time, scored by
            :func:`~recsys_platform.streaming.scoring.fresh_scores` (filled by the reader only
            when the model weighs the ``fresh`` signal).
    """

    watermark_ms: int | None
    trending: dict[int, dict[str, float]]
    next_item: dict[str, float]
    covisit: dict[str, float]
    session_knn: dict[str, float]
    fresh: dict[str, float] = field(default_factory=dict)

    def top(self, name: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best items of one signal, best first (ties: larger item id first).

        Args:
            name: ``trending_<window_s>``, ``next_item``, ``covisit``, ``session_knn`` or ``fresh``.
            k: How many items.

        Raises:
            KeyError: For an unknown signal or window.
        """
        if name.startswith("trending_"):
            scores = self.trending[int(name.removeprefix("trending_"))]
        elif name in ("next_item", "covisit", "session_knn", "fresh"):
            scores = getattr(self, name)
        else:
            raise KeyError(f"unknown signal {name!r}")
        return top_items(scores, k)
