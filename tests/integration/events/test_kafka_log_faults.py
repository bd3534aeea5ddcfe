"""The Kafka event log when no broker answers: fail fast, never claim success.

Nothing here stops the shared test broker (other tests use it): an unreachable address
stands for a broker that is down.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.events.log import EventLogUnavailable, OutgoingRecord

from tests.services import DedicatedService

pytestmark = pytest.mark.integration

UNREACHABLE = "127.0.0.1:1"
FAST_S = 10.0


def test_append_to_unreachable_broker_fails_fast() -> None:
    log = KafkaEventLog(UNREACHABLE, request_timeout_ms=2000)
    started = time.monotonic()
    try:
        results = log.append("recsys.t1.events", [OutgoingRecord(b"v", key=b"k"), OutgoingRecord(b"w")])
    except EventLogUnavailable as exc:
        assert exc.status == 503 and "Retry-After" in exc.headers
    else:
        assert len(results) == 2 and not any(r.ok for r in results)
    assert time.monotonic() - started < FAST_S
    # Right after a failed bootstrap, calls fail at once instead of waiting again.
    started = time.monotonic()
    with pytest.raises(EventLogUnavailable):
        log.append("recsys.t1.events", [OutgoingRecord(b"v")])
    assert time.monotonic() - started < 1.0
    log.close()


def test_check_and_consumer_fail_fast_on_unreachable_broker() -> None:
    log = KafkaEventLog(UNREACHABLE, request_timeout_ms=2000)
    for call in (log.check, lambda: log.ensure_topics(["recsys.t1.events"])):
        started = time.monotonic()
        with pytest.raises(EventLogUnavailable):
            call()
        assert time.monotonic() - started < FAST_S
    started = time.monotonic()
    with pytest.raises(EventLogUnavailable):
        log.consumer("g", r"recsys\..*")
    assert time.monotonic() - started < FAST_S
    log.close()


def test_same_instance_works_again_after_a_failure(kafka_bootstrap: str) -> None:
    """A failed bootstrap is not sticky: once the brokers answer, the log is usable again."""
    log = KafkaEventLog(kafka_bootstrap, request_timeout_ms=2000)
    log._down_until = time.monotonic() + 0.3  # as if a bootstrap had just failed
    with pytest.raises(EventLogUnavailable):
        log.check()
    time.sleep(0.4)
    topic = f"f{uuid.uuid4().hex[:8]}.events"
    log.ensure_topics([topic])
    assert log.append(topic, [OutgoingRecord(b"v")])[0].ok
    log.check()
    log.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.delete_topics([topic], raise_errors=False)
    admin.close()


def test_same_instance_recovers_after_broker_restart(tmp_path: Path) -> None:
    """A dedicated broker is stopped and started again: appends fail (never succeed) while
    it is down, and the same log instance and consumer work again once it is back."""
    broker = DedicatedService("kafka", tmp_path / "kafka-state")
    broker.start()
    try:
        log = KafkaEventLog(broker.address, request_timeout_ms=2000)
        log.ensure_topics(["r.t.events"])
        assert log.append("r.t.events", [OutgoingRecord(b"before", key=b"k")])[0].ok
        consumer = log.consumer("g", r"^r\.t\.events$")
        broker.stop()
        try:
            down = log.append("r.t.events", [OutgoingRecord(b"down", key=b"k")], timeout_s=3.0)
            assert not down[0].ok
        except EventLogUnavailable:
            pass
        broker.start()
        deadline = time.monotonic() + 30
        while not log.append("r.t.events", [OutgoingRecord(b"after", key=b"k")])[0].ok:
            assert time.monotonic() < deadline, "the log never recovered"
        values: list[bytes] = []
        while time.monotonic() < deadline and b"after" not in values:
            values.extend(r.value for r in consumer.poll(100, 0.2))
        assert values[0] == b"before" and b"after" in values
        consumer.close()
        log.close()
    finally:
        broker.stop()
