"""Rate limits from tenant quotas (in-process and Redis) and a log that is down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.gateway.ratelimit import LocalTokenBucket, RedisTokenBucket

from tests.integration.event_path import Platform, auth, event, gateway_client, new_prefix, sqlite_url

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    p = Platform(sqlite_url(tmp_path), new_prefix(), [])
    p.onboard("tenant-a", events_per_second=10)
    p.onboard("tenant-b", events_per_second=10)
    return p


@pytest.mark.parametrize("limiter", ["local", "redis"])
def test_events_quota_answers_429_with_retry_after_per_tenant(
    platform: Platform, tmp_path: Path, limiter: str, request: pytest.FixtureRequest
) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    log.ensure_topics([platform.topic("tenant-a"), platform.topic("tenant-b")])
    overrides = {}
    if limiter == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        overrides["redis_url"] = url
    key_a, key_b = platform.key("tenant-a", "events:write"), platform.key("tenant-b", "events:write")
    with gateway_client(platform, log, **overrides) as client:
        first = client.post("/v1/events", json={"events": [event(i) for i in range(8)]}, headers=auth(key_a))
        assert first.status_code == 200
        over = client.post(
            "/v1/events", json={"events": [event(i) for i in range(8, 16)]}, headers=auth(key_a)
        )
        assert over.status_code == 429
        assert over.headers["content-type"] == "application/problem+json"
        assert int(over.headers["retry-after"]) >= 1
        assert over.json()["errors"] == [{"field": "events", "reason": "quota 10 events/s"}]
        # another tenant's bucket is its own
        other = client.post("/v1/events", json={"events": [event(i) for i in range(8)]}, headers=auth(key_b))
        assert other.status_code == 200
        time.sleep(0.9)  # ~9 tokens back at 10/s
        again = client.post(
            "/v1/events", json={"events": [event(i) for i in range(8, 16)]}, headers=auth(key_a)
        )
        assert again.status_code == 200
    log.close()


def test_token_buckets_agree() -> None:
    local = LocalTokenBucket()
    assert asyncio.run(local.acquire("t", rate=5, burst=5, cost=5)) == 0
    wait = asyncio.run(local.acquire("t", rate=5, burst=5, cost=1))
    assert 0.15 < wait <= 0.2


def test_redis_bucket_is_shared_between_replicas(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("recsys:ratelimit:shared")

    async def run() -> list[float]:
        one, two = RedisTokenBucket(redis_url), RedisTokenBucket(redis_url)
        try:
            return [
                await one.acquire("shared", rate=1, burst=3, cost=2),
                await two.acquire("shared", rate=1, burst=3, cost=1),
                await one.acquire("shared", rate=1, burst=3, cost=1),
            ]
        finally:
            await one.close()
            await two.close()

    first, second, third = asyncio.run(run())
    assert first == 0 and second == 0
    assert third > 0.5


def test_redis_bucket_readiness_check(redis_url: str) -> None:
    bucket = RedisTokenBucket(redis_url)
    bucket.check()  # answers
    dead = RedisTokenBucket("redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        dead.check()


def test_an_unreachable_redis_falls_back_to_the_replicas_own_bucket() -> None:
    import asyncio

    async def run() -> list[float]:
        dead = RedisTokenBucket("redis://127.0.0.1:1/0")
        try:  # no exception reaches the request: burst 2 admits two, then the third waits
            return [await dead.acquire("t:requests", rate=1.0, burst=2.0) for _ in range(3)]
        finally:
            await dead.close()

    first, second, third = asyncio.run(run())
    assert first == second == 0.0 and third > 0.5


def test_log_down_is_503_with_retry_after_and_never_a_false_accept(platform: Platform) -> None:
    key = platform.key("tenant-a", "events:write")
    dead = KafkaEventLog("127.0.0.1:1")
    with gateway_client(platform, dead, append_timeout_seconds=2.0) as client:
        started = time.monotonic()
        response = client.post(
            "/v1/events", json={"events": [event(1), event(2, type="bogus")]}, headers=auth(key)
        )
        elapsed = time.monotonic() - started
        ready = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    body = response.json()
    assert body["accepted"] == 0
    assert [r["status"] for r in body["results"]] == ["unavailable", "rejected"]
    assert elapsed < 15
    assert ready.status_code == 503 and ready.json()["checks"]["event_log"]["ok"] is False
    dead.close()
