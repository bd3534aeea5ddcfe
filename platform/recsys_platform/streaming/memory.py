"""Reference adapter: the streaming state in Python dicts (also for offline replays and benchmarks)."""

from __future__ import annotations

import heapq
import sys
import threading
from collections import deque
from collections.abc import Collection, Sequence

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals, top_items
from recsys_platform.streaming.scoring import current_session, finish_signals, select_candidates, wanted
from recsys_platform.streaming.state import EPS, apply_batch, check_tenant


def _trim_lowest(entries: dict[str, float] | dict[str, int], cap: int) -> None:
    """Drop the lowest ``(score, id)`` entries beyond ``cap`` (what ZREMRANGEBYRANK 0 n does)."""
    while len(entries) > cap:
        victim = min(entries.items(), key=lambda kv: (kv[1], kv[0]))[0]
        del entries[victim]


class _ExpiringIndex:
    """``id -> last-use time`` with a lazy min-heap, so expiring the oldest is cheap."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def update(self, key: str, ts: int) -> None:
        if self.last.get(key) != ts:
            self.last[key] = ts
            heapq.heappush(self._heap, (ts, key))
            if len(self._heap) > 2 * len(self.last) + 1024:
                self._heap = [(t, k) for k, t in self.last.items()]
                heapq.heapify(self._heap)

    def pop_older(self, cutoff: int, limit: int) -> list[str]:
        """Remove and return up to ``limit`` ids used before ``cutoff``, oldest first."""
        out: list[str] = []
        heap = self._heap
        while heap and len(out) < limit and heap[0][0] < cutoff:
            ts, key = heapq.heappop(heap)
            if self.last.get(key) == ts:
                del self.last[key]
                out.append(key)
        return out


class _TenantState:
    """One tenant's state; implements :class:`~recsys_platform.streaming.state.StateOps`."""

    def __init__(self) -> None:
        self.watermark: int | None = None
        self.seen_ids: set[str] = set()
        self.seen_order: deque[str] = deque()
        self.buckets: dict[int, dict[str, float]] = {}
        self.windows: dict[int, dict[str, float]] = {}
        self.sessions: dict[str, tuple[str, int]] = {}
        self.session_index = _ExpiringIndex()
        self.session_items: dict[str, dict[str, int]] = {}
        self.neighbours: dict[str, dict[str, float]] = {}
        self.item_sessions: dict[str, dict[str, int]] = {}
        self.item_index = _ExpiringIndex()
        self.fresh: dict[str, int] = {}
        self.version = 0
        self.trending_cache: tuple[int, dict[int, dict[str, float]]] | None = None

    # -- StateOps --------------------------------------------------------------------------------

    def get_watermark(self) -> int | None:
        return self.watermark

    def set_watermark(self, watermark_ms: int) -> None:
        self.watermark = watermark_ms

    def seen(self, event_id: str) -> bool:
        if event_id in self.seen_ids:
            return True
        self.seen_ids.add(event_id)
        self.seen_order.append(event_id)
        return False

    def trim_seen(self, keep: int) -> None:
        while len(self.seen_order) > keep:
            self.seen_ids.discard(self.seen_order.popleft())

    def bucket_ids(self) -> list[int]:
        return sorted(self.buckets)

    def bucket_counts(self, bucket: int) -> list[tuple[str, float]]:
        return list(self.buckets.get(bucket, {}).items())

    def bucket_add(self, bucket: int, item: str, weight: float) -> None:
        counts = self.buckets.setdefault(bucket, {})
        counts[item] = counts.get(item, 0.0) + weight

    def drop_bucket(self, bucket: int) -> None:
        self.buckets.pop(bucket, None)

    def window_add(self, window_s: int, item: str, delta: float) -> None:
        counts = self.windows.setdefault(window_s, {})
        value = counts.get(item, 0.0) + delta
        if value <= EPS:
            counts.pop(item, None)
        else:
            counts[item] = value

    def session(self, session: str) -> tuple[str, int] | None:
        return self.sessions.get(session)

    def set_session(self, session: str, item: str, ts: int) -> None:
        self.sessions[session] = (item, ts)
        self.session_index.update(session, ts)

    def session_add_item(self, session: str, item: str, ts: int, cap: int) -> None:
        items = self.session_items.setdefault(session, {})
        old = items.get(item)
        if old is None or ts > old:
            items[item] = ts
            if old is None and len(items) > cap:
                _trim_lowest(items, cap)

    def neighbour_add(self, anchor: str, item: str, weight: float, cap: int) -> None:
        counts = self.neighbours.setdefault(anchor, {})
        old = counts.get(item)
        if old is None:
            counts[item] = weight
            if len(counts) > cap:
                _trim_lowest(counts, cap)
        else:
            counts[item] = old + weight

    def item_session_set(self, item: str, session: str, score: int, cap: int) -> None:
        sessions = self.item_sessions.setdefault(item, {})
        new = session not in sessions
        sessions[session] = score
        if new and len(sessions) > cap:
            _trim_lowest(sessions, cap)

    def touch_item(self, item: str, ts: int) -> None:
        if ts > self.item_index.last.get(item, -1):
            self.item_index.update(item, ts)

    def expire(self, cutoff_ms: int, limit: int) -> None:
        for session in self.session_index.pop_older(cutoff_ms, limit):
            self.sessions.pop(session, None)
            self.session_items.pop(session, None)
        for item in self.item_index.pop_older(cutoff_ms, limit):
            self.neighbours.pop(item, None)
            self.item_sessions.pop(item, None)

    # -- reads -----------------------------------------------------------------------------------

    def trending(self, config: StreamingConfig) -> dict[int, dict[str, float]]:
        if self.trending_cache is None or self.trending_cache[0] != self.version:
            tops = {
                w: dict(top_items(self.windows.get(w, {}), config.trending_top_k))
                for w in config.trending_windows_s
            }
            self.trending_cache = (self.version, tops)
        return {w: dict(top) for w, top in self.trending_cache[1].items()}


class MemoryItemStats:
    """The streaming state of every tenant in this process's memory (thread-safe, not shared)."""

    def __init__(self, config: StreamingConfig | None = None) -> None:
        """Create an empty store.

        Args:
            config: Windows, caps and V-SkNN parameters (defaults if ``None``).
        """
        self.config = config or StreamingConfig()
        self._tenants: dict[str, _TenantState] = {}
        self._lock = threading.Lock()

    def _state(self, tenant_id: str) -> _TenantState:
        check_tenant(tenant_id)
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _TenantState()
        return state

    def apply(self, tenant_id: str, events: Sequence[ItemEvent]) -> int:
        """See :meth:`ItemStatsStore.apply`."""
        with self._lock:
            state = self._state(tenant_id)
            applied = apply_batch(state, self.config, events)
            if applied:
                state.version += 1
            return applied

    def signals(
        self,
        tenant_id: str,
        session_items: Sequence[str],
        *,
        k: int = 100,
        exclude_session: str | None = None,
        want: Collection[str] | None = None,
    ) -> StreamSignals:
        """See :meth:`ItemStatsStore.signals`."""
        cfg = self.config
        with self._lock:
            state = self._state(tenant_id)
            session = current_session(session_items, cfg.session_max_items)
            transitions, knn = wanted(want)
            neighbour_lists = [
                dict(state.neighbours.get(item, {})) if transitions else {} for item in session
            ]
            candidates = (
                select_candidates(
                    (state.item_sessions.get(item, {}).items() for item in session),
                    cfg.sknn_sample,
                    exclude_session,
                )
                if knn
                else []
            )
            items_of = {c: set(state.session_items.get(c, ())) for c in candidates}
            return finish_signals(
                cfg,
                k,
                state.watermark,
                state.trending(cfg),
                session,
                neighbour_lists,
                candidates,
                items_of,
            )

    def add_items(self, tenant_id: str, items: Sequence[tuple[str, int]]) -> None:
        """See :meth:`ItemStatsStore.add_items`."""
        with self._lock:
            fresh = self._state(tenant_id).fresh
            for item, ts in items:
                if ts > fresh.get(item, -1):
                    fresh[item] = int(ts)
            if len(fresh) > self.config.fresh_max_items:
                kept = heapq.nlargest(
                    self.config.fresh_max_items, fresh.items(), key=lambda kv: (kv[1], kv[0])
                )
                fresh.clear()
                fresh.update(kept)

    def fresh(self, tenant_id: str, k: int) -> list[tuple[str, int]]:
        """See :meth:`ItemStatsStore.fresh`."""
        with self._lock:
            return [(i, int(t)) for i, t in top_items(self._state(tenant_id).fresh, k)]

    def watermark(self, tenant_id: str) -> int | None:
        """See :meth:`ItemStatsStore.watermark`."""
        with self._lock:
            return self._state(tenant_id).watermark

    def usage(self, tenant_id: str) -> dict[str, int]:
        """Sizes; ``keys`` counts the structures Redis would hold as keys, ``bytes`` is shallow."""
        with self._lock:
            s = self._state(tenant_id)
            nested: list[dict[str, float] | dict[str, int]] = [
                *s.buckets.values(),
                *s.windows.values(),
                *s.session_items.values(),
                *s.neighbours.values(),
                *s.item_sessions.values(),
            ]
            size = sum(sys.getsizeof(d) for d in nested)
            size += sum(sys.getsizeof(x) for x in (s.seen_ids, s.seen_order, s.sessions, s.fresh))
            size += sys.getsizeof(s.session_index.last) + sys.getsizeof(s.item_index.last)
            return {
                "keys": len(nested) + len(s.sessions) + 6,
                "items": len(s.item_index.last),
                "sessions": len(s.session_index.last),
                "neighbour_lists": len(s.neighbours),
                "event_ids": len(s.seen_ids),
                "bytes": size,
            }

    def delete_tenant(self, tenant_id: str) -> None:
        """See :meth:`ItemStatsStore.delete_tenant`."""
        check_tenant(tenant_id)
        with self._lock:
            self._tenants.pop(tenant_id, None)

    def delete_sessions(self, tenant_id: str, sessions: Sequence[str]) -> int:
        """See :meth:`ItemStatsStore.delete_sessions`."""
        check_tenant(tenant_id)
        held = 0
        with self._lock:
            s = self._tenants.get(tenant_id)
            if s is None:
                return 0
            for session in sessions:
                items = s.session_items.pop(session, {})
                held += int(s.sessions.pop(session, None) is not None or bool(items))
                s.session_index.last.pop(session, None)  # the heap is lazy: stale entries are skipped
                for item in items:
                    s.item_sessions.get(item, {}).pop(session, None)
            s.version += 1
            s.trending_cache = None
        return held

    def check(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Nothing to release."""
