"""Kafka adapter of the :class:`~recsys_platform.events.log.EventLog` port (kafka-python).

Clients are created lazily, so nothing connects at construction time, and are reused:
kafka-python reconnects on its own once a broker is back. A client that could not even
bootstrap is thrown away and created again on the next call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import kafka.errors as kerr
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import KafkaError
from kafka.net.compat import KafkaNetClient

from recsys_platform.events.log import AppendResult, ConsumedRecord, EventLogUnavailable, OutgoingRecord

log = logging.getLogger(__name__)

TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
#: After a client failed to bootstrap, calls fail at once for this long instead of each
#: waiting for the bootstrap timeout again.
FAIL_FAST_S = 1.0
#: How long ``poll`` waits for a pending rebalance to finish before it returns nothing.
REBALANCE_WAIT_S = 1.0


def whole_name_pattern(pattern: str) -> str:
    """kafka-python matches topic patterns with ``re.match`` (a prefix); anchor the end too."""
    re.compile(pattern)  # raises re.error on a bad pattern, before any client is created
    return rf"(?:{pattern})\Z"


def _describe(exc: BaseException) -> str:
    """``Class: message`` (kafka-python messages often start with the class name already)."""
    text = str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def _unavailable(what: str, exc: BaseException) -> EventLogUnavailable:
    return EventLogUnavailable(detail=f"Kafka {what} failed: {_describe(exc)}")


def _quietly(close: Any) -> None:
    """Call ``close()``; closing a broken client must not mask the real error."""
    try:
        close()
    except Exception:
        log.debug("closing a kafka client failed", exc_info=True)


def _field(obj: Any, *names: str) -> Any:
    """A field of a kafka-python metadata entry (dicts or objects, depending on the version)."""
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _consumed(r: Any) -> ConsumedRecord:
    headers = tuple((k, v or b"") for k, v in r.headers or ())
    return ConsumedRecord(r.topic, r.partition, r.offset, r.value or b"", r.key, headers, r.timestamp)


class KafkaEventLog:
    """The event log on Apache Kafka.

    Args:
        bootstrap_servers: Comma-separated ``host:port`` list.
        client_id: Client id reported to the brokers.
        request_timeout_ms: Bound of every request, of the bootstrap and of waiting for
            metadata; ``append`` reports per-record errors after about this plus one second
            when the brokers are down.
        linger_ms: How long the producer waits to batch records (latency vs. throughput).
        replication_factor: Replication factor of new topics (-1: the broker default).
        topic_configs: Configs of new topics (``retention.ms`` ...).
        metadata_max_age_ms: How often consumers refresh metadata, so topics created later
            join a pattern subscription within about this long.
        fetch_max_wait_ms: How long the broker holds an empty fetch.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "recsys",
        request_timeout_ms: int = 5000,
        linger_ms: int = 1,
        replication_factor: int = -1,
        topic_configs: Mapping[str, str] | None = None,
        metadata_max_age_ms: int = 3000,
        fetch_max_wait_ms: int = 10,
    ) -> None:
        self._common: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "request_timeout_ms": request_timeout_ms,
            "bootstrap_timeout_ms": request_timeout_ms,
            # The default grows to 30 s while a broker is down, which delays recovery.
            "reconnect_backoff_max_ms": 1000,
        }
        self._timeout_ms = request_timeout_ms
        self._linger_ms = linger_ms
        self._replication_factor = replication_factor
        self._topic_configs = dict(topic_configs or {})
        self._metadata_max_age_ms = metadata_max_age_ms
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._lock = threading.Lock()  # guards client creation and admin requests
        self._producer: Any = None
        self._admin: Any = None
        self._down_until = 0.0
        self._known_topics: set[str] = set()

    def _create(self, what: str, factory: Any, **config: Any) -> Any:
        """Create a client (the caller holds the lock for log clients).

        Fails fast right after a failed attempt. kafka-python starts the client's IO thread
        before it bootstraps and does not stop it when the bootstrap fails, so the network
        client is tracked here and closed on failure (else every attempt leaks a thread).
        """
        if time.monotonic() < self._down_until:
            raise EventLogUnavailable(detail=f"Kafka at {self._common['bootstrap_servers']} is unreachable")
        made: list[Any] = []

        def network_client(**kwargs: Any) -> Any:
            made.append(KafkaNetClient(**kwargs))
            return made[-1]

        try:
            return factory(**self._common, kafka_client=network_client, **config)
        except Exception as exc:  # NoBrokersAvailable, KafkaTimeoutError, connection errors
            self._down_until = time.monotonic() + FAIL_FAST_S
            for client in made:
                _quietly(client.close)
            raise _unavailable(f"{what} bootstrap", exc) from exc

    def _producer_client(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = self._create(
                    "producer",
                    KafkaProducer,
                    acks="all",
                    # kafka-python 3.0.12's idempotent producer wedges after a batch expires
                    # while the broker is down (every later send times out; seen in
                    # test_event_path_faults). Without it, one request in flight keeps
                    # per-key order, and a retried record that was stored twice is
                    # de-duplicated downstream by its event id.
                    enable_idempotence=False,
                    max_in_flight_requests_per_connection=1,
                    allow_auto_create_topics=False,
                    linger_ms=self._linger_ms,
                    max_block_ms=self._timeout_ms,
                    delivery_timeout_ms=self._timeout_ms + self._linger_ms + 1000,
                )
            return self._producer

    def _admin_call(self, what: str, call: Any) -> Any:
        """Run ``call(admin)``; connectivity failures become :class:`EventLogUnavailable`."""
        with self._lock:
            if self._admin is None:
                self._admin = self._create("admin", KafkaAdminClient)
            try:
                return call(self._admin)
            except KafkaError as exc:
                _quietly(self._admin.close)
                self._admin = None
                raise _unavailable(what, exc) from exc

    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        """Create the topics that do not exist yet and wait until they have leaders.

        Raises:
            ValueError: A topic name is not a valid Kafka topic name.
            EventLogUnavailable: The brokers did not answer.
            KafkaError: The brokers refused to create a topic (policy, replication ...).
        """
        if not topics:
            return
        for name in topics:
            if not TOPIC_NAME.fullmatch(name):
                raise ValueError(f"invalid topic name {name!r}")
        options = {"num_partitions": partitions, "replication_factor": self._replication_factor}
        spec = {name: {**options, "configs": self._topic_configs} for name in topics}
        result = self._admin_call(
            "create topics", lambda a: a.create_topics(spec, timeout_ms=self._timeout_ms, raise_errors=False)
        )
        for topic in result.get("topics", []):
            err = kerr.for_code(topic.get("error_code", 0))
            if err is not kerr.NoError and not issubclass(err, kerr.TopicAlreadyExistsError):
                raise err(f"topic {topic.get('name')}: {topic.get('error_message') or err.__name__}")
        self._admin_call(
            "wait for topics", lambda a: a.wait_for_topics(list(spec), timeout_ms=self._timeout_ms)
        )
        self._known_topics.update(spec)

    def _missing_topic_error(self, topic: str) -> str | None:
        """None when the topic exists (cached once seen); else why it cannot be used."""
        if topic in self._known_topics:
            return None
        described = self._admin_call("describe topic", lambda a: a.describe_topics([topic]))
        for entry in described:
            if entry.get("name") == topic:
                err = kerr.for_code(entry.get("error_code", 0))
                if err is kerr.NoError:
                    self._known_topics.add(topic)
                    return None
                return f"topic {topic!r} is not available: {err.__name__}"
        return f"topic {topic!r} does not exist"

    def append(
        self, topic: str, records: Sequence[OutgoingRecord], timeout_s: float = 10.0
    ) -> list[AppendResult]:
        """Send every record, then wait for each acknowledgement (``acks=all``).

        A missing topic gives an error for every record (it is never auto-created). A
        record not acknowledged within ``timeout_s`` is reported as failed, although the
        broker may still store it later: callers retry, consumers see it at least once.

        Raises:
            EventLogUnavailable: No broker answered, or the topic's metadata could not be
                fetched; nothing of this call was sent.
        """
        if not records:
            return []
        deadline = time.monotonic() + timeout_s
        missing = self._missing_topic_error(topic)
        if missing is not None:
            return [AppendResult(error=missing) for _ in records]
        producer = self._producer_client()
        futures: list[Any] = []  # a future, or the error of a record that was not sent
        for i, record in enumerate(records):
            try:
                futures.append(
                    producer.send(topic, value=record.value, key=record.key, headers=list(record.headers))
                )
            except kerr.KafkaTimeoutError as exc:  # metadata not available within max_block_ms
                self._known_topics.discard(topic)  # deleted meanwhile? look it up next time
                if i == 0:
                    raise _unavailable("metadata fetch", exc) from exc
                futures += [_describe(exc)] * (len(records) - i)  # do not wait again per record
                break
            except (KafkaError, ValueError, TypeError) as exc:  # e.g. MessageSizeTooLargeError
                futures.append(_describe(exc))
        results: list[AppendResult] = []
        for future in futures:
            if isinstance(future, str):
                results.append(AppendResult(error=future))
                continue
            try:
                # never 0: kafka-python treats a zero timeout as "wait forever"
                meta = future.get(timeout=max(0.001, deadline - time.monotonic()))
                results.append(AppendResult(offset=meta.offset, partition=meta.partition))
            except KafkaError as exc:
                results.append(AppendResult(error=_describe(exc)))
        return results

    def consumer(self, group_id: str, topic_pattern: str) -> KafkaEventConsumer:
        """A group consumer of every topic whose whole name matches ``topic_pattern``.

        Raises:
            re.error: The pattern is not a valid regular expression.
            EventLogUnavailable: No broker answered.
        """
        pattern = whole_name_pattern(topic_pattern)
        config = {
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "allow_auto_create_topics": False,
            "metadata_max_age_ms": self._metadata_max_age_ms,
            "fetch_max_wait_ms": self._fetch_max_wait_ms,
            # Incremental rebalances: a topic joining the pattern does not revoke the others.
            "partition_assignment_strategy": (CooperativeStickyAssignor,),
            # Members learn of a rebalance at their next heartbeat; a dead member's
            # partitions move after the session timeout (defaults: 3 s and 45 s).
            "heartbeat_interval_ms": 1000,
            "session_timeout_ms": 10_000,
        }
        client = self._create("consumer", KafkaConsumer, **config)
        return KafkaEventConsumer(client, pattern, self._timeout_ms)

    def group_lag(self, group_id: str, topics: Sequence[str]) -> dict[str, int]:
        """See :meth:`EventLog.group_lag` (log end minus committed offset, per topic)."""
        from kafka.admin import OffsetSpec

        def call(admin: Any) -> dict[str, int]:
            described = admin.describe_topics(list(topics))
            tps = [
                TopicPartition(_field(t, "name", "topic"), _field(p, "partition_index", "partition"))
                for t in described
                if not _field(t, "error_code", "error_code")
                for p in _field(t, "partitions", "partitions")
            ]
            if not tps:
                return {}
            ends = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST))
            committed = admin.list_group_offsets({group_id: tps}).get(group_id, {})
            lag: dict[str, int] = dict.fromkeys({tp.topic for tp in tps}, 0)
            for tp in tps:
                done = committed.get(tp)
                position = done.offset if done is not None and done.offset >= 0 else 0
                lag[tp.topic] += max(0, ends[tp].offset - position)
            return lag

        return dict(self._admin_call("group lag", call))

    def check(self) -> None:
        """Raise :class:`EventLogUnavailable` unless a broker answers a metadata request."""
        self._admin_call("check", lambda a: a.describe_cluster())

    def close(self) -> None:
        """Flush and close the clients (bounded by the request timeout)."""
        with self._lock:
            if self._producer is not None:
                _quietly(lambda: self._producer.close(timeout=self._timeout_ms / 1000))
            if self._admin is not None:
                _quietly(self._admin.close)
            self._producer = self._admin = None


class KafkaEventConsumer:
    """A member of a consumer group; use it from one thread (kafka-python consumers are not
    thread-safe). Created by :meth:`KafkaEventLog.consumer`."""

    def __init__(self, consumer: Any, pattern: str, timeout_ms: int) -> None:
        self._consumer = consumer
        self._timeout_ms = timeout_ms
        # kafka-python logs assignments; nothing is committed when partitions are revoked,
        # since the caller may not have stored what poll returned (at-least-once).
        self._consumer.subscribe(pattern=pattern)
        self._held: dict[Any, float] = {}  # paused partition -> monotonic time to resume it

    def hold(self, positions: Mapping[tuple[str, int], int], seconds: float) -> None:
        """See :meth:`EventConsumer.hold` (seek back, then pause the partitions).

        A partition that moves to another member meanwhile starts there at the committed
        offset, which never passed the held records.
        """
        until = time.monotonic() + seconds
        assigned = self._consumer.assignment()
        for (topic, partition), offset in positions.items():
            tp = TopicPartition(topic, partition)
            if tp not in assigned:
                continue
            try:
                self._consumer.seek(tp, offset)
                self._consumer.pause(tp)
            except (KafkaError, AssertionError, ValueError) as exc:  # revoked in between
                log.info("could not hold %s: %s", tp, exc)
                continue
            self._held[tp] = until

    def _resume_due(self) -> None:
        if not self._held:
            return
        now = time.monotonic()
        due = [tp for tp, until in self._held.items() if until <= now]
        for tp in due:
            del self._held[tp]
        assigned = self._consumer.assignment()
        due = [tp for tp in due if tp in assigned]
        if due:
            self._consumer.resume(*due)

    def poll(self, max_records: int = 500, timeout_s: float = 0.1) -> list[ConsumedRecord]:
        """Records after the current position, oldest first per partition ([] on timeout).

        While the group rebalances this waits up to ``REBALANCE_WAIT_S`` (or ``timeout_s``
        if longer) for the rebalance to finish, then returns ``[]``.
        """
        self._resume_due()
        started = time.monotonic()
        timeout_ms = int(timeout_s * 1000)
        while True:
            try:
                batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
            except KafkaError as exc:
                raise _unavailable("poll", exc) from exc
            rebalancing = self._rebalancing()  # always called: it raises the rejoin flag
            if batches or not rebalancing or time.monotonic() - started >= max(timeout_s, REBALANCE_WAIT_S):
                return [_consumed(r) for records in batches.values() for r in records]
            timeout_ms = 100

    def _rebalancing(self) -> bool:
        """Whether a JoinGroup/SyncGroup is pending; works around a kafka-python 3.0 bug.

        When poll's timer expires while a join started by a subscription change (a topic
        matching the pattern appeared) is in flight, the next poll sees no rejoin needed and
        never completes that join: the new partitions are never assigned and heartbeats stay
        off. Raising the rejoin flag makes the next poll await the join; a join that ended
        between two polls is discarded and sent again, hence ``poll`` waits for it instead.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        if getattr(coordinator, "_join_task", None) is None:
            return False
        self._consumer._coordinator.request_rejoin()
        return True

    def commit(self) -> None:
        """Commit the position after every record ``poll`` returned, for the partitions this
        consumer owns.

        During a rebalance the commit is skipped (logged, not raised): partitions that stay
        are committed by the next call, records of partitions that move are delivered again
        to their new owner (at-least-once).

        Raises:
            EventLogUnavailable: The group coordinator did not answer in time.
        """
        try:
            self._consumer.commit(timeout_ms=self._timeout_ms)
        except (kerr.CommitFailedError, kerr.RebalanceInProgressError) as exc:
            log.info("commit skipped while the group rebalances: %s", exc)
        except KafkaError as exc:
            raise _unavailable("commit", exc) from exc

    def lag(self) -> dict[str, int]:
        """Log end minus position per topic, for the partitions assigned to this consumer."""
        try:
            assigned = list(self._consumer.assignment())
            if not assigned:
                return {}
            ends = self._consumer.end_offsets(assigned, timeout_ms=self._timeout_ms)
            lag: dict[str, int] = {}
            for tp in assigned:
                position = self._consumer.position(tp, timeout_ms=self._timeout_ms)
                behind = ends.get(tp, 0) - (position if position is not None else 0)
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, behind)
            return lag
        except KafkaError as exc:  # includes a partition revoked in between
            raise _unavailable("lag", exc) from exc

    def close(self) -> None:
        """Leave the group (so its partitions move at once) without committing."""
        _quietly(lambda: self._consumer.close(autocommit=False, timeout_ms=self._timeout_ms))
