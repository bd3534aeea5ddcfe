"""Faults on the event path, with dedicated Kafka and Redis instances that the tests stop.

Reconciliation: every event the gateway accepted is in the features and the offline
store exactly once, however the broker or Redis came and went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.settings import KafkaSettings

from tests.integration.event_path import auth, event, gateway_client, new_prefix
from tests.integration.stream_harness import EventPath, build_event_path
from tests.services import DedicatedService

pytestmark = pytest.mark.integration
USERS = [f"user-{i}" for i in range(8)]


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[DedicatedService]:
    broker = DedicatedService("kafka", tmp_path / "kafka-state")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[DedicatedService]:
    server = DedicatedService("redis", tmp_path / "redis-state")
    server.start()
    yield server
    server.stop()


class Sender:
    """A client sending batches in a loop, retrying 503s with the same event ids."""

    def __init__(self, client, key: str) -> None:  # type: ignore[no-untyped-def]
        self.client, self.key = client, key
        self.accepted: set[str] = set()
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            batch = [event(f"{n}-{i}", user=USERS[(n + i) % len(USERS)], item="n1") for i in range(10)]
            n += 1
            while True:  # a well-behaved client retries the same batch until it is accepted
                response = self.client.post("/v1/events", json={"events": batch}, headers=auth(self.key))
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.accepted.update(r["event_id"] for r in response.json()["results"])
                    break
                assert response.status_code in (503, 429), response.text
                time.sleep(0.2)
            time.sleep(0.05)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def _reconcile(path: EventPath, accepted: set[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    counts = {}
    while time.monotonic() < deadline:
        states = path.features.read_many("news-a", USERS)
        counts = {u: s.event_count for u, s in states.items()}
        if sum(counts.values()) >= len(accepted):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # anything extra (a double count) would land now
    states = path.features.read_many("news-a", USERS)
    assert sum(s.event_count for s in states.values()) == len(accepted)
    applied = [i for s in states.values() for i in s.applied_event_ids]
    assert len(applied) == len(set(applied))
    offline_ids = path.offline.read("news-a").column("event_id").to_pylist()
    assert sorted(offline_ids) == sorted(accepted)


def test_broker_restart_loses_nothing_and_counts_everything_once(
    tmp_path: Path, kafka: DedicatedService, redis_url: str
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    prefix = new_prefix()
    settings = KafkaSettings(bootstrap_servers=kafka.address, topic_prefix=prefix, partitions=2)
    log = KafkaEventLog(kafka.address, request_timeout_ms=3000)
    path = build_event_path(tmp_path, log, prefix, KafkaTopicProvisioner(settings), redis_url)
    path.platform.onboard("news-a", events_per_second=100_000)
    key = path.platform.key("news-a", "events:write")
    with path.running(), gateway_client(path.platform, log, append_timeout_seconds=3.0) as client:
        with Sender(client, key) as sender:
            time.sleep(2.0)
            kafka.stop()
            time.sleep(3.0)
            kafka.start()
            time.sleep(3.0)
        assert 503 in sender.statuses, "the gateway never noticed the broker was down"
        assert len(sender.accepted) >= 100
        _reconcile(path, sender.accepted)
    log.close()


def test_redis_outage_holds_the_batch_and_catches_up(
    tmp_path: Path, own_redis: DedicatedService, kafka_bootstrap: str
) -> None:
    prefix = new_prefix()
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    log = KafkaEventLog(kafka_bootstrap)
    path = build_event_path(tmp_path, log, prefix, KafkaTopicProvisioner(settings), own_redis.redis_url)
    path.platform.onboard("news-a", events_per_second=100_000)
    key = path.platform.key("news-a", "events:write")
    with path.running() as processor, gateway_client(path.platform, log) as client:
        with Sender(client, key) as sender:
            time.sleep(1.5)
            own_redis.stop()
            time.sleep(3.0)
            lag_while_down = sum(processor.lag().values())
            own_redis.start()
            time.sleep(1.5)
        assert lag_while_down > 0, "the processor committed offsets while Redis was down"
        _reconcile(path, sender.accepted)
    path.platform.tenants.delete("news-a")
    log.close()
