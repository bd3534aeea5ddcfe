"""The ``EventLog`` port: a durable, ordered, partitioned log of records.

Two adapters implement it: Apache Kafka (Kubernetes mode, kafka-python) and an
embedded append-only SQLite log (``recsys up``). One contract test suite
(``tests/integration/events/test_event_log_contract.py``) runs against both.

Semantics every adapter keeps:

* ``append`` returns only after each record is durable (Kafka: ``acks=all``), and
  reports an outcome per record, so a caller never reports an unacknowledged record
  as accepted. Records with the same key keep their order.
* A consumer belongs to a group; ``poll`` returns records after the group's committed
  position; ``commit`` stores the position after everything returned by ``poll``
  so far. A new consumer of the group resumes from the last commit (at-least-once).
* Topics are created explicitly (``ensure_topics``); appending to a missing topic is
  an error for every record of the call (error results, no exception), never a silent
  auto-create.
* Topic patterns match whole names (as ``re.fullmatch``), and topics created later
  join a running consumer's subscription (Kafka: within a few seconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from recsys_platform.errors import DependencyUnavailable


@dataclass(frozen=True)
class OutgoingRecord:
    """A record to append. ``key`` picks the partition (same key, same order)."""

    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0


@dataclass(frozen=True)
class AppendResult:
    """Outcome of one record: ``error`` is None when the record is durable."""

    offset: int | None = None
    partition: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class EventLogUnavailable(DependencyUnavailable):
    """The log cannot be reached; nothing in the call was appended for sure."""

    headers: dict[str, str] = field(default_factory=lambda: {"Retry-After": "2"})


class EventConsumer(Protocol):
    def poll(self, max_records: int = 500, timeout_s: float = 0.1) -> list[ConsumedRecord]:
        """Records after the current position, oldest first per partition ([] on timeout)."""
        ...

    def commit(self) -> None:
        """Commit the position after every record returned by ``poll`` so far."""
        ...

    def hold(self, positions: Mapping[tuple[str, int], int], seconds: float) -> None:
        """Rewind each ``(topic, partition)`` to its offset and return nothing more from it for
        ``seconds``; the next :meth:`commit` stores that offset. How one tenant whose store
        fails is paused without holding back the other tenants' partitions."""
        ...

    def lag(self) -> dict[str, int]:
        """Records not yet consumed by this group, per topic (log end minus position).

        Kafka counts the partitions assigned to this consumer (none before its first poll).
        """
        ...

    def close(self) -> None: ...


class EventLog(Protocol):
    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        """Create topics that do not exist yet (idempotent)."""
        ...

    def append(
        self, topic: str, records: Sequence[OutgoingRecord], timeout_s: float = 10.0
    ) -> list[AppendResult]:
        """Append and wait until each record is durable or failed; one result per record.

        A missing topic gives an error result for every record. Raises
        :class:`EventLogUnavailable` when the log cannot be reached at all.
        """
        ...

    def consumer(self, group_id: str, topic_pattern: str) -> EventConsumer:
        """A group consumer of every topic whose full name matches ``topic_pattern`` (a
        regular expression), including topics created after the consumer started."""
        ...

    def group_lag(self, group_id: str, topics: Sequence[str]) -> dict[str, int]:
        """Records of each existing topic not yet committed by ``group_id`` (log end minus the
        group's committed offset; a topic the group never committed counts whole)."""
        ...

    def check(self) -> None:
        """Raise if the log cannot be reached (readiness)."""
        ...

    def close(self) -> None: ...
