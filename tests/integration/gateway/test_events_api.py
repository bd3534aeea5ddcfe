"""``POST /v1/events`` against the real event logs (Kafka broker and embedded SQLite log)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.events.log import ConsumedRecord, EventLog
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.provisioning.ports import Provisioner, ResourceRef, TenantContext

from tests.integration.event_path import (
    Platform,
    auth,
    event,
    gateway_client,
    kafka_settings,
    new_prefix,
    sqlite_url,
)

pytestmark = pytest.mark.integration


class _LogTopics:
    """Provisions the tenant topics in an embedded log (what onboarding does for Kafka)."""

    name = "event_log"

    def __init__(self, log: EventLog, prefix: str) -> None:
        self._log, self._prefix = log, prefix

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        names = [f"{self._prefix}.{tenant.tenant_id}.{k}" for k in ("events", "impressions", "dead-letter")]
        self._log.ensure_topics(names)
        return [ResourceRef("log_topic", n) for n in names]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        pass

    def check(self) -> None:
        pass


@pytest.fixture(params=["kafka", "sqlite"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Platform, EventLog]]:
    prefix = new_prefix()
    log: EventLog
    provisioners: list[Provisioner]
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        log = KafkaEventLog(bootstrap)
        provisioners = [KafkaTopicProvisioner(kafka_settings(bootstrap, prefix))]
    else:
        log = SqliteEventLog(tmp_path / "events.db")
        provisioners = [_LogTopics(log, prefix)]
    platform = Platform(sqlite_url(tmp_path), prefix, provisioners)
    platform.onboard("tenant-a", events_per_second=1000)
    platform.onboard("tenant-b", events_per_second=1000)
    yield platform, log
    log.close()


def _drain(log: EventLog, topic: str, expected: int, timeout: float = 15.0) -> list[ConsumedRecord]:
    consumer = log.consumer(f"g-{time.monotonic_ns()}", "^" + re.escape(topic) + "$")
    got: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < expected:
        got.extend(consumer.poll(500, 0.2))
    # a little longer, to catch anything unexpected
    got.extend(consumer.poll(500, 0.5))
    consumer.close()
    return got


def test_valid_events_are_logged_keyed_by_user_and_invalid_ones_reported(
    setup: tuple[Platform, EventLog],
) -> None:
    platform, log = setup
    key = platform.key("tenant-a", "events:write")
    batch = [
        event(1, user="alice"),
        event(2, user="bob", type="rating", value=4),
        {"event_id": "e-3", "user_id": "alice", "type": "click"},  # no item_id, no timestamp
        event(4, type="teleport"),
        event(5, user="alice", type="watch", value=120.5, context={"device": "tv"}),
        event(6, timestamp="2026-01-01T00:00:00"),  # naive timestamp
        event(7, user="bob", type="rating"),  # rating without value
        "not an event",
    ]
    with gateway_client(platform, log) as client:
        response = client.post("/v1/events", json={"events": batch}, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"], body["unavailable"]) == (3, 5, 0)
    errors = {r["index"]: r["errors"] for r in body["results"] if r["status"] == "rejected"}
    assert {e["field"] for e in errors[2]} == {"item_id", "timestamp"}
    assert errors[3][0]["field"] == "type"
    assert errors[5][0] == {
        "field": "timestamp",
        "reason": "must include a timezone offset, e.g. 2026-11-28T10:00:00Z",
    }
    assert errors[6][0]["field"] == "value"
    assert errors[7][0]["field"] == "event"

    records = _drain(log, platform.topic("tenant-a"), 3)
    envelopes = [json.loads(r.value) for r in records]
    assert sorted(e["event"]["event_id"] for e in envelopes) == ["e-1", "e-2", "e-5"]
    assert {e["tenant_id"] for e in envelopes} == {"tenant-a"}
    assert {(r.key, json.loads(r.value)["event"]["user_id"].encode()) for r in records} == {
        (b"alice", b"alice"),
        (b"bob", b"bob"),
    }
    assert all(dict(r.headers)["recsys-tenant"] == b"tenant-a" for r in records)


def test_per_user_order_is_kept(setup: tuple[Platform, EventLog]) -> None:
    platform, log = setup
    key = platform.key("tenant-a", "events:write")
    with gateway_client(platform, log) as client:
        for n in range(0, 60, 20):
            batch = [event(i, user=f"user-{i % 3}") for i in range(n, n + 20)]
            assert client.post("/v1/events", json={"events": batch}, headers=auth(key)).status_code == 200
    records = _drain(log, platform.topic("tenant-a"), 60)
    for user in ("user-0", "user-1", "user-2"):
        ids = [json.loads(r.value)["event"]["event_id"] for r in records if r.key == user.encode()]
        assert ids == sorted(ids, key=lambda x: int(x.split("-")[1])) and len(ids) == 20


def test_a_key_of_tenant_a_cannot_write_into_tenant_b(setup: tuple[Platform, EventLog]) -> None:
    platform, log = setup
    key_a = platform.key("tenant-a", "events:write")
    with gateway_client(platform, log) as client:
        sneaky = event(1, tenant_id="tenant-b")
        response = client.post("/v1/events", json={"events": [sneaky, event(2)]}, headers=auth(key_a))
    assert response.json()["results"][0]["errors"] == [
        {"field": "tenant_id", "reason": "Extra inputs are not permitted"}
    ]
    assert _drain(log, platform.topic("tenant-b"), 0, timeout=1.0) == []
    assert [json.loads(r.value)["tenant_id"] for r in _drain(log, platform.topic("tenant-a"), 1)] == [
        "tenant-a"
    ]


def test_keys_and_scopes(setup: tuple[Platform, EventLog]) -> None:
    platform, log = setup
    reader = platform.key("tenant-a", "recommendations:read")
    with gateway_client(platform, log) as client:
        missing = client.post("/v1/events", json={"events": [event(1)]})
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        wrong = client.post("/v1/events", json={"events": [event(1)]}, headers=auth("rsk_00000000_nope"))
        assert wrong.status_code == 401
        no_scope = client.post("/v1/events", json={"events": [event(1)]}, headers=auth(reader))
        assert no_scope.status_code == 403
        assert "'events:write' scope" in no_scope.json()["detail"]
    assert _drain(log, platform.topic("tenant-a"), 0, timeout=1.0) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": [{}] * 1001}, "events"),
        ({"events": [], "extra": 1}, "extra"),
        ({}, "events"),
    ],
)
def test_bad_envelopes_are_422_naming_the_field(
    setup: tuple[Platform, EventLog], body: dict[str, object], field: str
) -> None:
    platform, log = setup
    key = platform.key("tenant-a", "events:write")
    with gateway_client(platform, log) as client:
        response = client.post("/v1/events", json=body, headers=auth(key))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_body_size_limit(setup: tuple[Platform, EventLog]) -> None:
    platform, log = setup
    key = platform.key("tenant-a", "events:write")
    with gateway_client(platform, log, max_request_bytes=4096) as client:
        batch = [event(i, context={"note": "x" * 200}) for i in range(40)]
        response = client.post("/v1/events", json={"events": batch}, headers=auth(key))
    assert response.status_code == 413
