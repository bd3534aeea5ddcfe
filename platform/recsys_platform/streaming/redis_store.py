"""Redis adapter: one Lua script per batch, signals in two pipelined round trips.

Keys: ``<prefix>:{<tenant>}:<name>``. The braces are a Redis Cluster hash tag (one slot per
tenant, which the batch script needs) and a separator tenant ids cannot contain, so a scan of
``<prefix>:{shop}:*`` never matches tenant ``shop-2``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any, cast

import redis

from recsys_platform.errors import DependencyUnavailable
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals
from recsys_platform.streaming.redis_lua import APPLY_SCRIPT
from recsys_platform.streaming.scoring import current_session, finish_signals, select_candidates, wanted
from recsys_platform.streaming.state import check_tenant, ordered_events

#: The items of each candidate session (ARGV[1] = the tenant's key prefix, then session ids).
#: One JSON document (``[[item, ...], ...]``) rather than one reply element per item: the
#: client decodes it in one C call instead of building a reply object per item (about 4,000 per read).
SESSION_ITEMS_SCRIPT = """
local out = {}
for i = 2, #ARGV do
  out[i - 1] = redis.call('ZRANGE', ARGV[1] .. 'si:' .. ARGV[i], 0, -1)
end
return cjson.encode(out)
"""


class RedisItemStats:
    """The streaming state of every tenant in Redis (shared by stream processors and model servers)."""

    def __init__(
        self, redis_url: str, config: StreamingConfig | None = None, key_prefix: str = "recsys:stream"
    ) -> None:
        """Connect lazily to Redis.

        Args:
            redis_url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
            config: Windows, caps and V-SkNN parameters (defaults if ``None``).
            key_prefix: Prefix of every key this store writes.
        """
        self.config = config or StreamingConfig()
        self._prefix = key_prefix
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
        self._apply = self._redis.register_script(APPLY_SCRIPT)
        self._session_items = self._redis.register_script(SESSION_ITEMS_SCRIPT)
        cfg = self.config
        self._script_config: list[Any] = [
            cfg.bucket_s * 1000,
            cfg.session_gap_s * 1000,
            cfg.ttl_s * 1000,
            cfg.covis_top_k,
            cfg.session_max_items,
            cfg.sessions_per_item,
            cfg.dedup_events,
            cfg.expire_per_batch,
            cfg.ttl_s,
            len(cfg.window_buckets),
        ]
        for window_s, n_buckets in cfg.window_buckets:
            self._script_config += [window_s, n_buckets]

    def _key(self, tenant_id: str, name: str = "") -> str:
        check_tenant(tenant_id)
        return f"{self._prefix}:{{{tenant_id}}}:{name}"

    def apply(self, tenant_id: str, events: Sequence[ItemEvent]) -> int:
        """See :meth:`ItemStatsStore.apply`: one atomic Lua script per batch."""
        prefix = self._key(tenant_id)
        args: list[Any] = [prefix, *self._script_config]
        for e in ordered_events(events):
            args += [e.event_id, e.session_key, e.item_id, str(e.timestamp_ms), repr(float(e.weight))]
        if len(args) == len(self._script_config) + 1:
            return 0
        try:
            return int(self._apply(keys=[prefix + "meta"], args=args))
        except redis.ConnectionError as exc:
            raise DependencyUnavailable(f"Redis is not reachable: {exc}") from exc

    def signals(
        self,
        tenant_id: str,
        session_items: Sequence[str],
        *,
        k: int = 100,
        exclude_session: str | None = None,
        want: Collection[str] | None = None,
    ) -> StreamSignals:
        """See :meth:`ItemStatsStore.signals`: one pipelined round trip and one script call."""
        cfg = self.config
        prefix = self._key(tenant_id)
        session = current_session(session_items, cfg.session_max_items)
        transitions, knn = wanted(want)
        try:
            # ZREVRANGE ... WITHSCORES as raw commands: the flat replies are paired here in C
            # (zip/map) instead of by redis-py's per-reply Python callback
            pipe = self._redis.pipeline(transaction=False)
            pipe.hget(prefix + "meta", "wm")
            command: Any = pipe.execute_command  # untyped in redis-py
            for window_s in cfg.trending_windows_s:
                top = cfg.trending_top_k - 1
                command("ZREVRANGE", f"{prefix}w:{window_s}", 0, top, "WITHSCORES")
            for item in session if transitions else ():
                command("ZREVRANGE", f"{prefix}nx:{item}", 0, -1, "WITHSCORES")
            for item in session if knn else ():
                command("ZREVRANGE", f"{prefix}is:{item}", 0, cfg.sknn_sample - 1, "WITHSCORES")
            first = pipe.execute()
            n_windows = len(cfg.trending_windows_s)
            trending = {w: _pairs(first[1 + j]) for j, w in enumerate(cfg.trending_windows_s)}
            rest = first[1 + n_windows :]
            n_lists = len(session) if transitions else 0
            neighbour_lists = [_pairs(r) for r in rest[:n_lists]] if transitions else [{} for _ in session]
            index = (zip(r[::2], map(float, r[1::2]), strict=True) for r in rest[n_lists:])
            candidates = select_candidates(index, cfg.sknn_sample, exclude_session) if knn else []
            items_of: dict[str, set[str]] = {}
            if candidates:
                # one script call, not one command per candidate session: redis-py's per-reply
                # cost (about 20 us) times the sample of 500 sessions was most of the read
                encoded = self._session_items(keys=[prefix + "meta"], args=[prefix, *candidates])
                lists = json.loads(encoded)  # an empty session's list arrives as {} (cjson): no items
                items_of = {c: set(its) for c, its in zip(candidates, lists, strict=True)}
        except redis.ConnectionError as exc:
            raise DependencyUnavailable(f"Redis is not reachable: {exc}") from exc
        watermark = int(first[0]) if first[0] is not None else None
        return finish_signals(cfg, k, watermark, trending, session, neighbour_lists, candidates, items_of)

    def add_items(self, tenant_id: str, items: Sequence[tuple[str, int]]) -> None:
        """See :meth:`ItemStatsStore.add_items`."""
        if not items:
            return
        key = self._key(tenant_id, "fresh")
        mapping: dict[str, int] = {}
        for item, ts in items:
            mapping[item] = max(int(ts), mapping.get(item, -1))
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(key, mapping, gt=True)
        pipe.zremrangebyrank(key, 0, -self.config.fresh_max_items - 1)
        pipe.expire(key, self.config.ttl_s)
        pipe.execute()

    def fresh(self, tenant_id: str, k: int) -> list[tuple[str, int]]:
        """See :meth:`ItemStatsStore.fresh`."""
        if k <= 0:
            return []
        rows = cast(
            "list[tuple[str, float]]",
            self._redis.zrevrange(self._key(tenant_id, "fresh"), 0, k - 1, withscores=True),
        )
        return [(item, int(score)) for item, score in rows]

    def watermark(self, tenant_id: str) -> int | None:
        """See :meth:`ItemStatsStore.watermark`."""
        value = cast("str | None", self._redis.hget(self._key(tenant_id, "meta"), "wm"))
        return int(value) if value is not None else None

    def _tenant_keys(self, tenant_id: str) -> list[str]:
        pattern = self._key(tenant_id) + "*"
        return list(self._redis.scan_iter(match=pattern, count=1000))

    def usage(self, tenant_id: str) -> dict[str, int]:
        """Keys, items, sessions and bytes (sum of ``MEMORY USAGE`` over the tenant's keys)."""
        keys = self._tenant_keys(tenant_id)
        total = 0
        for start in range(0, len(keys), 1000):
            pipe = self._redis.pipeline(transaction=False)
            for key in keys[start : start + 1000]:
                pipe.memory_usage(key)
            total += sum(int(b or 0) for b in pipe.execute())
        pipe = self._redis.pipeline(transaction=False)
        for name in ("items", "sessions", "dedup"):
            pipe.zcard(self._key(tenant_id, name))
        items, sessions, event_ids = pipe.execute()
        neighbour_lists = sum(1 for key in keys if key.startswith(self._key(tenant_id, "nx:")))
        return {
            "keys": len(keys),
            "items": int(items),
            "sessions": int(sessions),
            "neighbour_lists": neighbour_lists,
            "event_ids": int(event_ids),
            "bytes": total,
        }

    def delete_tenant(self, tenant_id: str) -> None:
        """See :meth:`ItemStatsStore.delete_tenant` (scans only the tenant's own namespace)."""
        keys = self._tenant_keys(tenant_id)
        for start in range(0, len(keys), 1000):
            self._redis.unlink(*keys[start : start + 1000])

    def delete_sessions(self, tenant_id: str, sessions: Sequence[str]) -> int:
        """See :meth:`ItemStatsStore.delete_sessions`."""
        prefix = self._key(tenant_id)
        held = 0
        for session in sessions:
            items = cast("list[str]", self._redis.zrange(prefix + "si:" + session, 0, -1))
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(prefix + "s:" + session, prefix + "si:" + session)
            pipe.zrem(prefix + "sessions", session)
            for item in items:
                pipe.zrem(prefix + "is:" + item, session)
            deleted = pipe.execute()
            held += int(bool(deleted[0]) or bool(deleted[1]))
        return held

    def check(self) -> None:
        """Raise ``DependencyUnavailable`` if Redis does not answer."""
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise DependencyUnavailable(f"Redis is not reachable: {exc}") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


def _pairs(flat: list[str]) -> dict[str, float]:
    """A flat ``WITHSCORES`` reply (member, score, member, score, ...) as a dict, in order."""
    return dict(zip(flat[::2], map(float, flat[1::2]), strict=True))
