"""The update algorithm of the streaming state, written once over a small set of state operations.

The memory and SQLite adapters run :func:`apply_batch` on their own :class:`StateOps`; the Redis
adapter runs the same steps as one Lua script (``redis_lua.py``), which mirrors this module line
by line. Float additions happen in the same order in every backend, so all give the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from recsys_platform.errors import InvalidInput
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.tenancy.schemas import TENANT_ID_PATTERN

#: A window count at or below this is gone (float residue of subtractions).
EPS = 1e-9
_TENANT_RE = re.compile(TENANT_ID_PATTERN)


def check_tenant(tenant_id: str) -> None:
    """Refuse tenant ids that could collide in key namespaces.

    Raises:
        InvalidInput: If ``tenant_id`` is not a tenant id (a DNS label).
    """
    if not isinstance(tenant_id, str) or not _TENANT_RE.match(tenant_id):
        raise InvalidInput(f"invalid tenant id {tenant_id!r}")


def ordered_events(events: Sequence[ItemEvent]) -> list[ItemEvent]:
    """The events a batch applies, in application order: by timestamp, then input order."""
    return sorted((e for e in events if e.weight > 0), key=lambda e: e.timestamp_ms)


class StateOps(Protocol):
    """One tenant's state, at the level of the algorithm's steps (implemented per backend)."""

    def get_watermark(self) -> int | None: ...
    def set_watermark(self, watermark_ms: int) -> None: ...
    def seen(self, event_id: str) -> bool:
        """Whether the event id was applied before; if not, remember it."""
        ...

    def trim_seen(self, keep: int) -> None:
        """Forget all but the ``keep`` most recently applied event ids."""
        ...

    def bucket_ids(self) -> list[int]:
        """Existing buckets, ascending."""
        ...

    def bucket_counts(self, bucket: int) -> list[tuple[str, float]]: ...
    def bucket_add(self, bucket: int, item: str, weight: float) -> None: ...
    def drop_bucket(self, bucket: int) -> None: ...
    def window_add(self, window_s: int, item: str, delta: float) -> None:
        """Add ``delta``; an entry whose count falls to ``EPS`` or below is removed."""
        ...

    def session(self, session: str) -> tuple[str, int] | None:
        """The session's last item and last-click time."""
        ...

    def set_session(self, session: str, item: str, ts: int) -> None: ...
    def session_add_item(self, session: str, item: str, ts: int, cap: int) -> None:
        """Keep the item with its latest time; trim to the ``cap`` highest ``(ts, item)``."""
        ...

    def neighbour_add(self, anchor: str, item: str, weight: float, cap: int) -> None:
        """Add to the transition count; trim to the ``cap`` highest ``(count, item)``."""
        ...

    def item_session_set(self, item: str, session: str, score: int, cap: int) -> None:
        """Index the session under the item; trim to the ``cap`` highest ``(score, session)``."""
        ...

    def touch_item(self, item: str, ts: int) -> None:
        """Record the item's latest click time (never lowered)."""
        ...

    def expire(self, cutoff_ms: int, limit: int) -> None:
        """Remove up to ``limit`` sessions and ``limit`` items last used before ``cutoff_ms``.

        Oldest first, ties by id ascending. A session takes its items list with it; an item its
        neighbour list and its session index.
        """
        ...


def _advance(ops: StateOps, config: StreamingConfig, old_bucket: int, new_bucket: int) -> None:
    """Move every window's end from ``old_bucket`` to ``new_bucket``: subtract buckets that leave."""
    if new_bucket <= old_bucket:
        return
    windows = config.window_buckets
    buckets = ops.bucket_ids()
    for window_s, n_buckets in windows:
        low, high = old_bucket - n_buckets, new_bucket - n_buckets
        for bucket in buckets:
            if low < bucket <= high:
                for item, count in ops.bucket_counts(bucket):
                    ops.window_add(window_s, item, -count)
    oldest_kept = new_bucket - max(n for _, n in windows)
    for bucket in buckets:
        if bucket <= oldest_kept:
            ops.drop_bucket(bucket)


def apply_batch(ops: StateOps, config: StreamingConfig, events: Sequence[ItemEvent]) -> int:
    """Apply one batch to a tenant's state (the caller makes it atomic).

    Returns:
        How many events were applied (new ids with a positive weight).
    """
    bucket_ms = config.bucket_s * 1000
    gap_ms = config.session_gap_s * 1000
    ttl_ms = config.ttl_s * 1000
    windows = config.window_buckets
    max_buckets = max(n for _, n in windows)
    watermark = ops.get_watermark()
    applied = 0
    for event in ordered_events(events):
        if ops.seen(event.event_id):
            continue
        applied += 1
        ts, item, weight = event.timestamp_ms, event.item_id, float(event.weight)
        bucket = ts // bucket_ms
        if watermark is None or ts > watermark:
            if watermark is not None:
                _advance(ops, config, watermark // bucket_ms, bucket)
            watermark = ts
            ops.set_watermark(watermark)
        end_bucket = watermark // bucket_ms
        if bucket > end_bucket - max_buckets:
            ops.bucket_add(bucket, item, weight)
            for window_s, n_buckets in windows:
                if bucket > end_bucket - n_buckets:
                    ops.window_add(window_s, item, weight)
        if ts < watermark - ttl_ms:
            continue  # a far-past replay never touches live sessions or neighbours
        session = event.session_key
        previous = ops.session(session)
        if previous is None or ts >= previous[1]:
            if previous is not None and ts - previous[1] <= gap_ms and previous[0] != item:
                ops.neighbour_add(previous[0], item, weight, config.covis_top_k)
            ops.set_session(session, item, ts)
            last_click = ts
        else:
            last_click = previous[1]  # late click: no transition, the session's last item stays
        ops.session_add_item(session, item, ts, config.session_max_items)
        ops.item_session_set(item, session, last_click, config.sessions_per_item)
        ops.touch_item(item, ts)
    if applied and watermark is not None:
        ops.trim_seen(config.dedup_events)
        ops.expire(watermark - ttl_ms, config.expire_per_batch)
    return applied
