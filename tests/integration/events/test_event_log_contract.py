"""The ``EventLog`` contract: every test runs against Kafka (the real broker) and SQLite.

On the shared broker each test uses topics under a prefix of its own (``c<uuid8>.``) and
groups of its own, and deletes its topics afterwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from recsys_platform.events.log import ConsumedRecord, EventConsumer, EventLog, OutgoingRecord

pytestmark = pytest.mark.integration

OpenConsumer = Callable[[str, str], EventConsumer]

#: Kafka consumers join their group and refresh metadata within a few seconds.
WAIT_S = 20.0


@pytest.fixture(params=["kafka", "sqlite"])
def event_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    """Each contract test runs once per adapter."""
    if request.param == "sqlite":
        from recsys_platform.events.sqlite_log import SqliteEventLog

        sqlite_log = SqliteEventLog(tmp_path / "events.db")
        yield sqlite_log
        sqlite_log.close()
        return
    from kafka import KafkaAdminClient
    from recsys_platform.events.kafka_log import KafkaEventLog

    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    prefix: str = request.getfixturevalue("prefix")
    kafka_log = KafkaEventLog(bootstrap, client_id="contract-test")
    yield kafka_log
    kafka_log.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine, raise_errors=False)
    finally:
        admin.close()


@pytest.fixture
def prefix() -> str:
    """Topic prefix of this test (keeps tests apart on the shared broker)."""
    return f"c{uuid.uuid4().hex[:8]}."


@pytest.fixture
def open_consumer(event_log: EventLog) -> Iterator[OpenConsumer]:
    """Open consumers that are closed after the test."""
    opened: list[EventConsumer] = []

    def factory(group_id: str, pattern: str) -> EventConsumer:
        consumer = event_log.consumer(group_id, pattern)
        opened.append(consumer)
        return consumer

    yield factory
    for consumer in opened:
        consumer.close()


def group() -> str:
    return f"g-{uuid.uuid4().hex}"


def drain(consumer: EventConsumer, count: int, timeout_s: float = WAIT_S) -> list[ConsumedRecord]:
    """Poll until ``count`` records arrived (fails after ``timeout_s``), never more than ``count``."""
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count:
        assert time.monotonic() < deadline, f"got {len(records)} of {count} records in {timeout_s}s"
        records += consumer.poll(max_records=count - len(records), timeout_s=0.2)
    return records


def quiet(consumer: EventConsumer, seconds: float = 1.5) -> list[ConsumedRecord]:
    """Everything a consumer returns within ``seconds`` (expected: nothing)."""
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        records += consumer.poll(timeout_s=0.1)
    return records


def values(records: list[ConsumedRecord]) -> list[bytes]:
    return [r.value for r in records]


def test_round_trip_keeps_values_keys_and_headers(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer
) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic])
    sent = [
        OutgoingRecord(b'{"n": 0}', key=b"user-1", headers=(("tenant", b"acme"), ("trace", b"\x00\xff"))),
        OutgoingRecord(b"", key=None),
        OutgoingRecord(b"\x00binary\xff", key=b"user-2", headers=(("a", b""),)),
    ]
    results = event_log.append(topic, sent)
    assert [r.ok for r in results] == [True, True, True]
    assert [(r.partition, r.offset) for r in results] == [(0, 0), (0, 1), (0, 2)]

    got = drain(open_consumer(group(), re.escape(topic)), 3)
    assert [(r.topic, r.partition, r.offset) for r in got] == [(topic, 0, 0), (topic, 0, 1), (topic, 0, 2)]
    assert [(r.value, r.key, r.headers) for r in got] == [(s.value, s.key, s.headers) for s in sent]
    now_ms = time.time() * 1000
    assert all(now_ms - 60_000 < r.timestamp_ms <= now_ms + 1000 for r in got)


def test_append_of_nothing_returns_nothing(event_log: EventLog, prefix: str) -> None:
    event_log.ensure_topics([prefix + "events"])
    assert event_log.append(prefix + "events", []) == []


def test_order_per_key_is_kept(event_log: EventLog, prefix: str, open_consumer: OpenConsumer) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic], partitions=3)
    keys = [f"user-{k}".encode() for k in range(7)]
    sent = [OutgoingRecord(f"{i}".encode(), key=keys[i % len(keys)]) for i in range(200)]
    for start in range(0, 200, 25):  # several batches
        assert all(r.ok for r in event_log.append(topic, sent[start : start + 25]))

    got = drain(open_consumer(group(), re.escape(topic)), 200)
    assert sorted(int(r.value) for r in got) == list(range(200))
    for key in keys:
        seq = [int(r.value) for r in got if r.key == key]
        assert seq == sorted(seq), f"order of {key!r} broken"
    for partition in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == sorted(offsets)


def test_concurrent_appends_from_threads_all_land(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer
) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic])
    failures: list[str] = []

    def writer(n: int) -> None:
        for i in range(25):
            for result in event_log.append(topic, [OutgoingRecord(f"{n}-{i}".encode(), key=f"{n}".encode())]):
                if not result.ok:
                    failures.append(str(result.error))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    got = drain(open_consumer(group(), re.escape(topic)), 100)
    assert sorted(r.offset for r in got) == list(range(100))
    assert len(set(values(got))) == 100


def test_group_resumes_after_commit_and_rereads_without(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer
) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic])
    event_log.append(topic, [OutgoingRecord(f"{i}".encode(), key=b"k") for i in range(10)])
    committed, uncommitted = group(), group()

    first = open_consumer(committed, re.escape(topic))
    assert values(drain(first, 4)) == [b"0", b"1", b"2", b"3"]
    first.commit()
    assert values(drain(first, 2)) == [b"4", b"5"]  # read, never committed
    first.close()
    second = open_consumer(committed, re.escape(topic))
    assert values(drain(second, 6)) == [f"{i}".encode() for i in range(4, 10)]  # 4 and 5 again

    reader = open_consumer(uncommitted, re.escape(topic))
    assert len(drain(reader, 10)) == 10
    reader.close()  # no commit: at-least-once means the next member reads everything again
    again = open_consumer(uncommitted, re.escape(topic))
    assert values(drain(again, 10)) == [f"{i}".encode() for i in range(10)]


def test_each_group_sees_every_record(event_log: EventLog, prefix: str, open_consumer: OpenConsumer) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic])
    event_log.append(topic, [OutgoingRecord(f"{i}".encode()) for i in range(20)])
    a, b = open_consumer(group(), re.escape(topic)), open_consumer(group(), re.escape(topic))
    assert sorted(values(drain(a, 20))) == sorted(values(drain(b, 20)))
    assert quiet(a, 0.5) == [] and quiet(b, 0.5) == []


def test_topics_created_later_join_the_subscription(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer
) -> None:
    pattern = re.escape(prefix) + r"t[0-9]+\.events"
    event_log.ensure_topics([prefix + "t1.events"])
    event_log.append(prefix + "t1.events", [OutgoingRecord(b"first")])
    consumer = open_consumer(group(), pattern)
    assert values(drain(consumer, 1)) == [b"first"]

    event_log.ensure_topics([prefix + "t2.events"])
    event_log.append(prefix + "t2.events", [OutgoingRecord(b"later")])
    started = time.monotonic()
    got = drain(consumer, 1, timeout_s=15)
    assert [(r.topic, r.value) for r in got] == [(prefix + "t2.events", b"later")]
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("anchored", [True, False])
def test_pattern_matches_whole_topic_names(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer, anchored: bool
) -> None:
    names = ["x.a.events", "x.a.events-dlq", "x.bb.events", "zx.a.events", "x.a.eventsx"]
    event_log.ensure_topics([prefix + n for n in names])
    for name in names:
        event_log.append(prefix + name, [OutgoingRecord(name.encode())])
    pattern = re.escape(prefix) + r"x\.[a-z]+\.events"
    consumer = open_consumer(group(), f"^{pattern}$" if anchored else pattern)
    got = drain(consumer, 2)
    assert sorted(values(got)) == [b"x.a.events", b"x.bb.events"]
    assert quiet(consumer) == []


def test_lag_counts_unconsumed_records(event_log: EventLog, prefix: str, open_consumer: OpenConsumer) -> None:
    topic = prefix + "events"
    event_log.ensure_topics([topic])
    event_log.append(topic, [OutgoingRecord(f"{i}".encode()) for i in range(10)])
    consumer = open_consumer(group(), re.escape(topic))
    drain(consumer, 3)
    assert consumer.lag() == {topic: 7}
    drain(consumer, 7)
    assert consumer.lag() == {topic: 0}
    consumer.commit()
    event_log.append(topic, [OutgoingRecord(b"more")])
    assert consumer.lag() == {topic: 1}


def test_ensure_topics_is_idempotent(event_log: EventLog, prefix: str, open_consumer: OpenConsumer) -> None:
    event_log.ensure_topics([prefix + "a"])
    event_log.append(prefix + "a", [OutgoingRecord(b"kept")])
    event_log.ensure_topics([prefix + "a"])
    event_log.ensure_topics([prefix + "a", prefix + "b"])
    event_log.ensure_topics([])
    assert event_log.append(prefix + "b", [OutgoingRecord(b"b")])[0].ok
    assert values(drain(open_consumer(group(), re.escape(prefix + "a")), 1)) == [b"kept"]


def test_invalid_topic_names_are_refused(event_log: EventLog, prefix: str) -> None:
    with pytest.raises(ValueError):
        event_log.ensure_topics([prefix + "has space"])


def test_append_to_missing_topic_fails_and_creates_nothing(
    event_log: EventLog, prefix: str, open_consumer: OpenConsumer
) -> None:
    topic = prefix + "missing"
    for _ in range(2):  # a second append would succeed if the first had created the topic
        results = event_log.append(topic, [OutgoingRecord(b"lost"), OutgoingRecord(b"lost too")])
        assert len(results) == 2
        assert all(not r.ok and r.error and r.offset is None for r in results)
    consumer = open_consumer(group(), re.escape(prefix) + ".*")
    assert quiet(consumer, 1.0) == []
    assert consumer.lag() == {}


def test_check_passes(event_log: EventLog) -> None:
    event_log.check()


_APPENDER = """
import sys
from recsys_platform.events.log import OutgoingRecord
from recsys_platform.events.sqlite_log import SqliteEventLog
log = SqliteEventLog(sys.argv[1])
for i in range(100):
    assert log.append(sys.argv[2], [OutgoingRecord(f"{sys.argv[3]}-{i}".encode())])[0].ok
log.close()
"""


def test_sqlite_log_is_shared_by_processes(tmp_path: Path) -> None:
    """Embedded mode: the gateway and the stream processor are processes on one file."""
    from recsys_platform.events.sqlite_log import SqliteEventLog

    path, topic = tmp_path / "events.db", "shared.events"
    log = SqliteEventLog(path)
    log.ensure_topics([topic])
    consumer = log.consumer("g", re.escape(topic))
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), topic, f"p{n}"]) for n in range(3)]
    got = drain(consumer, 300, timeout_s=60)
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert [r.offset for r in got] == list(range(300))
    assert len(set(values(got))) == 300
    consumer.commit()
    consumer.close()
    resumed = log.consumer("g", re.escape(topic))
    assert resumed.lag() == {topic: 0}
    resumed.close()
    log.close()


def test_kafka_group_members_share_partitions_without_loss(kafka_bootstrap: str, prefix: str) -> None:
    """Kafka only (SQLite has no partition assignment): a member joining or leaving the
    group rebalances the partitions; every record is still consumed."""
    from kafka import KafkaAdminClient
    from recsys_platform.events.kafka_log import KafkaEventLog

    log, topic, group_id = KafkaEventLog(kafka_bootstrap), prefix + "events", group()
    log.ensure_topics([topic], partitions=4)
    seen: dict[str, list[ConsumedRecord]] = {"a": [], "b": []}
    stop = {"a": threading.Event(), "b": threading.Event()}

    def member(name: str) -> None:
        consumer = log.consumer(group_id, re.escape(topic))
        while not stop[name].is_set():
            seen[name] += consumer.poll(max_records=50, timeout_s=0.1)
            consumer.commit()
        consumer.close()

    threads = {name: threading.Thread(target=member, args=(name,)) for name in seen}
    for thread in threads.values():
        thread.start()
    sent: list[bytes] = []

    def produce(batches: int, tag: str) -> None:
        for i in range(batches):
            batch = [OutgoingRecord(f"{tag}{i}-{k}".encode(), key=f"k{k}".encode()) for k in range(16)]
            assert all(r.ok for r in log.append(topic, batch))
            sent.extend(r.value for r in batch)
            time.sleep(0.05)

    try:
        deadline = time.monotonic() + WAIT_S
        while not (seen["a"] and seen["b"]) and time.monotonic() < deadline:
            produce(1, f"both{len(sent)}-")
        assert seen["a"] and seen["b"], "both members got partitions"
        produce(10, "both")
        stop["b"].set()
        threads["b"].join(timeout=WAIT_S)
        produce(10, "a-only")
        deadline = time.monotonic() + WAIT_S
        while set(values(seen["a"] + seen["b"])) != set(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for name, thread in threads.items():
            stop[name].set()
            thread.join(timeout=WAIT_S)
        log.close()
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics([topic], raise_errors=False)
        admin.close()
    assert set(values(seen["a"] + seen["b"])) == set(sent)  # nothing lost (duplicates allowed)
