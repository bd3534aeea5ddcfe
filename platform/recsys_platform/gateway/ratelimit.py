"""Per-tenant token buckets: in Redis when several gateway replicas share a quota.

``acquire`` answers how long to wait before the request would fit (0 means it was
admitted and its tokens were taken). Rate and burst come from the tenant's quota at
call time, so a quota change applies without a restart. ``acquire`` is a coroutine: the
Redis bucket talks to Redis over asyncio (no blocking call on the event loop, no thread hop).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

log = logging.getLogger(__name__)
#: Seconds between two warnings about an unreachable Redis (every request would log one).
WARN_EVERY_SECONDS = 30.0

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RateLimiter(Protocol):
    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens and return 0, or return the seconds until they would fit."""
        ...

    async def close(self) -> None: ...


class LocalTokenBucket:
    """In-process buckets (one gateway replica, or when no Redis is configured)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens and return 0, or return the seconds until they would fit."""
        now = time.monotonic()
        # no lock: only the event loop's thread touches the buckets, and nothing here awaits
        tokens, ts = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - ts) * rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / rate

    async def close(self) -> None:
        """Nothing to release."""


class RedisTokenBucket:
    """Buckets in Redis, updated atomically by a Lua script using the server's clock."""

    def __init__(self, url: str, prefix: str = "recsys:ratelimit:") -> None:
        import redis.asyncio

        # created outside a loop; its connections are opened lazily on the loop that uses it
        self._redis = redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_LUA)
        self._prefix = prefix
        self._url = url
        self._local = LocalTokenBucket()
        self._last_warning = 0.0

    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens and return 0, or return the seconds until they would fit.

        When Redis does not answer in time (down, or blocked by a long script of another
        user of the same server) this replica's own bucket decides: requests are neither
        failed nor let through unlimited, and the shared bucket takes over again when Redis
        answers.
        """
        import redis

        try:
            wait = await self._script(keys=[self._prefix + key], args=[rate, burst, cost])
        except (redis.RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("rate limit: Redis did not answer (%s); this replica's bucket decides", exc)
            return await self._local.acquire(key, rate, burst, cost)
        return float(wait)

    def check(self) -> None:
        """Raise if Redis does not answer (readiness probe; runs in a worker thread)."""
        import redis

        with redis.Redis.from_url(self._url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
            client.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def retry_after_header(wait_seconds: float) -> str:
    """``Retry-After`` is whole seconds; never 0 for a refused request."""
    return str(max(1, math.ceil(wait_seconds)))
