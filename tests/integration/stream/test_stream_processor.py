"""Gateway -> Kafka -> stream processor -> Feast online store (Redis) and offline Parquet."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.events.log import OutgoingRecord
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.settings import KafkaSettings

from tests.integration.event_path import auth, event, gateway_client, new_prefix
from tests.integration.stream_harness import EventPath, build_event_path

pytestmark = pytest.mark.integration

NEWS = [
    {"item_id": "n1", "title": "Cup final", "category": "sports"},
    {"item_id": "n2", "title": "Chip launch", "category": "technology"},
    {"item_id": "n3", "title": "Derby", "category": "sports"},
]


@pytest.fixture
def path(tmp_path: Path, kafka_bootstrap: str, redis_url: str) -> Iterator[EventPath]:
    prefix = new_prefix()
    redis.Redis.from_url(redis_url).flushdb()  # Feast keys are per tenant id, not per test
    log = KafkaEventLog(kafka_bootstrap)
    topics = KafkaTopicProvisioner(KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix))
    p = build_event_path(tmp_path, log, prefix, topics, redis_url)
    p.platform.onboard("news-a", use_case="news", events_per_second=10_000)
    p.platform.onboard("news-b", use_case="news", events_per_second=10_000)
    from recsys_platform.catalog.service import CatalogService

    CatalogService(p.platform.sessions, p.platform.sessions.kw["bind"]).upsert("news-a", NEWS)
    yield p
    for tenant in ("news-a", "news-b"):
        p.platform.tenants.delete(tenant)
    log.close()


def test_a_click_updates_the_users_features_and_the_offline_store(path: EventPath) -> None:
    key = path.platform.key("news-a", "events:write")
    with path.running(), gateway_client(path.platform, path.log) as client:
        batch = [
            event("c1", user="ann", item="n1", session_id="s1", timestamp="2026-11-27T10:00:00Z"),
            event("c2", user="ann", item="n2", session_id="s1", timestamp="2026-11-27T10:01:00Z"),
            event("c3", user="ann", item="n3", session_id="s1", timestamp="2026-11-27T10:02:00Z"),
            event("r1", user="bob", item="n2", type="rating", value=5, timestamp="2026-11-27T10:00:00Z"),
        ]
        assert client.post("/v1/events", json={"events": batch}, headers=auth(key)).status_code == 200
        ann = path.wait_for("news-a", "ann", lambda s: s.event_count == 3)
        bob = path.wait_for("news-a", "bob", lambda s: s.event_count == 1)

    assert ann.recent_items == ("n3", "n2", "n1")
    assert ann.session_id == "s1" and ann.session_clicks == 3
    assert ann.category_affinity["sports"] > ann.category_affinity["technology"] > 0
    assert bob.category_affinity == {"technology": 1.0}
    offline = path.offline.read("news-a")
    assert sorted(offline.column("event_id").to_pylist()) == ["e-c1", "e-c2", "e-c3", "e-r1"]
    assert path.features.read("news-b", "ann") is None  # other tenant untouched


def test_duplicates_count_once_in_features_and_offline(path: EventPath) -> None:
    key = path.platform.key("news-a", "events:write")
    with gateway_client(path.platform, path.log) as client:
        for _ in range(3):  # a client retrying the same batch
            batch = [event(f"d{i}", user="cat", item="n1") for i in range(5)]
            assert client.post("/v1/events", json={"events": batch}, headers=auth(key)).status_code == 200
    with path.running():
        state = path.wait_for("news-a", "cat", lambda s: s.event_count >= 5)
        # give the processor time to (wrongly) apply the 10 duplicates
        path.wait_for("news-a", "cat", lambda s: True, timeout=1.0)
    assert path.features.read("news-a", "cat").event_count == 5  # type: ignore[union-attr]
    assert state.session_clicks == 5
    assert path.offline.read("news-a").num_rows == 5


def test_redelivered_batch_after_a_crash_counts_once(path: EventPath) -> None:
    """Process without committing (a crash after the writes), then run again."""
    key = path.platform.key("news-a", "events:write")
    with gateway_client(path.platform, path.log) as client:
        batch = [event(f"x{i}", user="dan", item="n3") for i in range(4)]
        client.post("/v1/events", json={"events": batch}, headers=auth(key))
    crashed = path.processor()
    crashed._consumer.commit = lambda: None  # type: ignore[method-assign]  # the crash
    deadline_hits = 0
    while deadline_hits < 50 and (path.features.read("news-a", "dan") is None):
        crashed.process_once()
        deadline_hits += 1
    crashed._consumer.close()
    assert path.features.read("news-a", "dan").event_count == 4  # type: ignore[union-attr]
    with path.running():
        path.wait_for("news-a", "dan", lambda s: s.event_count == 4, timeout=3.0)
        path.wait_for("news-a", "dan", lambda s: True, timeout=1.0)
    assert path.features.read("news-a", "dan").event_count == 4  # type: ignore[union-attr]
    assert path.offline.read("news-a").num_rows == 4


def test_poison_messages_go_to_the_dead_letter_topic_and_processing_continues(path: EventPath) -> None:
    topic = path.platform.topic("news-a")
    good = {
        "v": 1,
        "tenant_id": "news-a",
        "received_at": "2026-11-27T10:00:00+00:00",
        "event": event("ok1", user="eve", item="n1"),
    }
    wrong_tenant = {**good, "tenant_id": "news-b", "event": event("w1", user="eve")}
    wrong_types = {**good, "event": {**event("t1", user="eve"), "value": "lots"}}
    poison = [
        b"{not json",
        json.dumps(wrong_tenant).encode(),
        json.dumps(wrong_types).encode(),
        b"\xff\xfe",
        json.dumps(good).encode(),
    ]
    results = path.log.append(topic, [OutgoingRecord(value=v, key=b"eve") for v in poison])
    assert all(r.ok for r in results)
    with path.running():
        state = path.wait_for("news-a", "eve", lambda s: s.event_count == 1)
    assert state.applied_event_ids == ("e-ok1",)

    dlq = path.log.consumer(
        "dlq-reader", "^" + path.platform.topic("news-a", "dead-letter").replace(".", r"\.") + "$"
    )
    letters = []
    for _ in range(100):
        letters.extend(dlq.poll(100, 0.1))
        if len(letters) >= 4:
            break
    dlq.close()
    reasons = sorted(dict(r.headers)["recsys-dlq-reason"].decode() for r in letters)
    assert len(letters) == 4, reasons
    assert any("not JSON" in r for r in reasons)
    assert any("does not match topic tenant" in r for r in reasons)
    assert {r.value for r in letters} == set(poison[:4])
    assert all(dict(r.headers)["recsys-dlq-source"].startswith(topic.encode()) for r in letters)
    assert path.features.read("news-b", "eve") is None


def test_consumer_lag_metric_reaches_zero(path: EventPath) -> None:
    key = path.platform.key("news-a", "events:write")
    with gateway_client(path.platform, path.log) as client:
        client.post(
            "/v1/events", json={"events": [event(f"l{i}", user="fay") for i in range(20)]}, headers=auth(key)
        )
    processor = path.processor()
    assert sum(processor.lag().values()) >= 0
    for _ in range(200):
        processor.process_once()
        if path.features.read("news-a", "fay") and sum(processor.lag().values()) == 0:
            break
    assert sum(processor.lag().values()) == 0
    processor._consumer.close()


def test_clicks_update_the_tenants_streaming_item_state_on_event_time(
    path: EventPath, redis_url: str
) -> None:
    from recsys_platform.streaming.redis_store import RedisItemStats

    stats = RedisItemStats(redis_url, key_prefix=f"test:{path.platform.topic_prefix}")
    key = path.platform.key("news-a", "events:write")
    try:
        with path.running(item_stats=stats), gateway_client(path.platform, path.log) as client:
            batch = [
                event("k1", user="ann", item="n1", session_id="s1", timestamp="2017-10-01T10:00:00Z"),
                event("k2", user="ann", item="n2", session_id="s1", timestamp="2017-10-01T10:01:00Z"),
                event("k3", user="bob", item="n1", session_id="s2", timestamp="2017-10-01T10:02:00Z"),
                event("k4", user="bob", item="unknown-9", session_id="s2", timestamp="2017-10-01T10:03:00Z"),
                event(
                    "k5",
                    user="bob",
                    item="n3",
                    type="skip",
                    session_id="s2",
                    timestamp="2017-10-01T10:04:00Z",
                ),
            ]
            assert client.post("/v1/events", json={"events": batch}, headers=auth(key)).status_code == 200
            path.wait_for("news-a", "bob", lambda s: s.event_count == 3)
            deadline = time.monotonic() + 30  # the item state is written after the user rows
            while stats.watermark("news-a") != 1506852180000 and time.monotonic() < deadline:
                time.sleep(0.05)
            signals = stats.signals("news-a", ["n1"])
        # event time (2017), not the wall clock: the 15-minute window ends at the last click
        assert stats.watermark("news-a") == 1506852180000
        assert signals.trending[900] == {"n1": 2.0, "n2": 1.0, "unknown-9": 1.0}  # skips do not count
        assert signals.next_item == {"n2": 1.0, "unknown-9": 1.0}  # items not in the catalog count too
        assert stats.watermark("news-b") is None  # the other tenant's state is untouched
    finally:
        stats.delete_tenant("news-a")
        stats.close()
