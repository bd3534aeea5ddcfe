"""Embedded SQLite adapter of the :class:`~recsys_platform.events.log.EventLog` port.

One append-only table holds the records of every topic. Each topic has one partition
(``partitions`` of ``ensure_topics`` is recorded but not used) and offsets 0, 1, 2 ...
A batch is appended in one transaction in WAL mode with ``synchronous=FULL``, so it is
on disk when ``append`` returns. Several processes (gateway, stream processor) can share
the file: each connection waits for the write lock up to its busy timeout.

Consumers poll: a cheap ``PRAGMA data_version`` tells whether another connection has
committed since the last look. Unlike Kafka there is no partition assignment: run one
consumer per group at a time (two would both read every record).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from recsys_platform.events.log import AppendResult, ConsumedRecord, EventLogUnavailable, OutgoingRecord

TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
#: How long an idle consumer sleeps between two looks at the database.
IDLE_SLEEP_S = 0.002

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS event_topics (
        name TEXT PRIMARY KEY, partitions INTEGER NOT NULL,
        next_offset INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS event_records (
        id INTEGER PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        record_offset INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT,
        timestamp_ms INTEGER NOT NULL)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS event_records_position
        ON event_records (topic, partition, record_offset)""",
    """CREATE TABLE IF NOT EXISTS event_consumer_offsets (
        group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL, PRIMARY KEY (group_id, topic, partition))""",
)


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _unavailable(what: str, exc: sqlite3.Error) -> EventLogUnavailable:
    return EventLogUnavailable(detail=f"SQLite event log {what} failed: {type(exc).__name__}: {exc}")


def _encode_headers(headers: tuple[tuple[str, bytes], ...]) -> str | None:
    if not headers:
        return None
    return json.dumps([[k, base64.b64encode(v).decode("ascii")] for k, v in headers])


def _decode_headers(text: str | None) -> tuple[tuple[str, bytes], ...]:
    if not text:
        return ()
    return tuple((k, base64.b64decode(v)) for k, v in json.loads(text))


class _Transaction:
    """``with _Transaction(conn):`` runs a BEGIN IMMEDIATE ... COMMIT, rolling back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


class SqliteEventLog:
    """The event log in one SQLite file, shared by the processes of ``recsys up``.

    Args:
        path: The database file (created with its schema if missing).
        busy_timeout_s: How long a write waits for another writer before it fails.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 5.0) -> None:
        self._path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()  # one writer connection, shared by the threads
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self._path, busy_timeout_s)
            with _Transaction(self._conn) as conn:
                for statement in _SCHEMA:
                    conn.execute(statement)
        except sqlite3.Error as exc:
            raise _unavailable("open", exc) from exc

    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        """Create the topics that do not exist yet (idempotent).

        Raises:
            ValueError: A topic name is not a valid Kafka topic name.
        """
        for name in topics:
            if not TOPIC_NAME.fullmatch(name):
                raise ValueError(f"invalid topic name {name!r}")
        now = int(time.time() * 1000)
        try:
            with self._lock, _Transaction(self._conn) as conn:
                conn.executemany(
                    "INSERT INTO event_topics (name, partitions, created_ms) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO NOTHING",
                    [(name, partitions, now) for name in topics],
                )
        except sqlite3.Error as exc:
            raise _unavailable("ensure_topics", exc) from exc

    def delete_topics(self, topics: Sequence[str]) -> None:
        """Remove topics with their records and consumer positions (idempotent)."""
        try:
            with self._lock, _Transaction(self._conn) as conn:
                for table, column in (
                    ("event_records", "topic"),
                    ("event_consumer_offsets", "topic"),
                    ("event_topics", "name"),
                ):
                    conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(t,) for t in topics])
        except sqlite3.Error as exc:
            raise _unavailable("delete_topics", exc) from exc

    def append(
        self, topic: str, records: Sequence[OutgoingRecord], timeout_s: float = 10.0
    ) -> list[AppendResult]:
        """Append the batch in one durable transaction; a missing topic fails every record.

        ``timeout_s`` is not used: a write waits up to ``busy_timeout_s`` for the lock.

        Raises:
            EventLogUnavailable: The database could not be written (locked, disk full ...).
        """
        if not records:
            return []
        now = int(time.time() * 1000)
        try:
            with self._lock, _Transaction(self._conn) as conn:
                row = conn.execute("SELECT next_offset FROM event_topics WHERE name = ?", (topic,)).fetchone()
                if row is None:
                    return [AppendResult(error=f"topic {topic!r} does not exist") for _ in records]
                start: int = row[0]
                conn.executemany(
                    "INSERT INTO event_records (topic, partition, record_offset, key, value, headers,"
                    " timestamp_ms) VALUES (?, 0, ?, ?, ?, ?, ?)",
                    [
                        (topic, start + i, r.key, r.value, _encode_headers(r.headers), now)
                        for i, r in enumerate(records)
                    ],
                )
                conn.execute(
                    "UPDATE event_topics SET next_offset = ? WHERE name = ?", (start + len(records), topic)
                )
        except sqlite3.Error as exc:
            raise _unavailable("append", exc) from exc
        return [AppendResult(offset=start + i, partition=0) for i in range(len(records))]

    def consumer(self, group_id: str, topic_pattern: str) -> SqliteEventConsumer:
        """A group consumer of every topic whose whole name matches ``topic_pattern``.

        Raises:
            re.error: The pattern is not a valid regular expression.
        """
        pattern = re.compile(topic_pattern)
        try:
            return SqliteEventConsumer(_connect(self._path, self._busy_timeout_s), group_id, pattern)
        except sqlite3.Error as exc:
            raise _unavailable("consumer", exc) from exc

    def group_lag(self, group_id: str, topics: Sequence[str]) -> dict[str, int]:
        """See :meth:`EventLog.group_lag`."""
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT t.name, t.next_offset - coalesce(o.next_offset, 0) FROM event_topics t"
                    " LEFT JOIN event_consumer_offsets o ON o.topic = t.name AND o.group_id = ?"
                    f" WHERE t.name IN ({','.join('?' * len(topics))})",
                    (group_id, *topics),
                ).fetchall()
        except sqlite3.Error as exc:
            raise _unavailable("group_lag", exc) from exc
        return {name: max(0, int(lag)) for name, lag in rows}

    def check(self) -> None:
        """Raise :class:`EventLogUnavailable` unless the database can be read."""
        try:
            with self._lock:
                self._conn.execute("SELECT count(*) FROM event_topics").fetchone()
        except sqlite3.Error as exc:
            raise _unavailable("check", exc) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteEventConsumer:
    """A consumer of one group, with a connection of its own; use it from one thread."""

    def __init__(self, conn: sqlite3.Connection, group_id: str, pattern: re.Pattern[str]) -> None:
        self._conn = conn
        self._group_id = group_id
        self._pattern = pattern
        self._matches: dict[str, bool] = {}
        self._positions: dict[str, int] = {}  # next offset to return, per topic
        self._uncommitted: set[str] = set()
        self._caught_up_at: int | None = None  # data_version when the last poll read everything
        self._turn = 0  # rotates the topic read first, so no topic starves
        self._created: dict[str, int] = {}  # created_ms of each topic seen, to notice a re-creation
        self._held: dict[str, float] = {}  # topic -> monotonic time until which it is not read

    def _topics(self) -> list[tuple[str, int]]:
        """(name, log end) of every topic whose whole name matches, re-read each time.

        A topic deleted and created again (a tenant purged, its id onboarded again) starts
        at offset 0: the position held for the old topic is dropped, or the new owner's
        first records (as many as the old topic held) would be skipped.
        """
        rows = self._conn.execute(
            "SELECT name, next_offset, created_ms FROM event_topics ORDER BY name"
        ).fetchall()
        found = []
        seen: dict[str, int] = {}
        for name, end, created_ms in rows:
            if name not in self._matches:
                self._matches[name] = self._pattern.fullmatch(name) is not None
            if self._matches[name]:
                seen[name] = created_ms
                if self._created.get(name, created_ms) != created_ms or self._positions.get(name, 0) > end:
                    self._forget(name)
                found.append((name, end))
        for name in [n for n in self._created if n not in seen]:
            self._forget(name)
        self._created.update(seen)
        return found

    def _forget(self, topic: str) -> None:
        self._positions.pop(topic, None)
        self._uncommitted.discard(topic)
        self._created.pop(topic, None)
        self._held.pop(topic, None)

    def _position(self, topic: str) -> int:
        if topic not in self._positions:
            row = self._conn.execute(
                "SELECT next_offset FROM event_consumer_offsets"
                " WHERE group_id = ? AND topic = ? AND partition = 0",
                (self._group_id, topic),
            ).fetchone()
            self._positions[topic] = row[0] if row else 0
        return self._positions[topic]

    def _read(self, max_records: int) -> list[ConsumedRecord]:
        topics = self._topics()
        if topics:
            self._turn = (self._turn + 1) % len(topics)
            topics = topics[self._turn :] + topics[: self._turn]
        out: list[ConsumedRecord] = []
        now = time.monotonic()
        for topic, end in topics:
            if self._held.get(topic, 0.0) > now:
                continue
            position = self._position(topic)
            if position >= end or len(out) >= max_records:
                continue
            rows = self._conn.execute(
                "SELECT record_offset, key, value, headers, timestamp_ms FROM event_records"
                " WHERE topic = ? AND partition = 0 AND record_offset >= ? ORDER BY record_offset LIMIT ?",
                (topic, position, max_records - len(out)),
            ).fetchall()
            for offset, key, value, headers, ts in rows:
                out.append(ConsumedRecord(topic, 0, offset, bytes(value), key, _decode_headers(headers), ts))
            if rows:
                self._positions[topic] = rows[-1][0] + 1
                self._uncommitted.add(topic)
        return out

    def poll(self, max_records: int = 500, timeout_s: float = 0.1) -> list[ConsumedRecord]:
        """Records after the current position, oldest first per topic ([] on timeout)."""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                version: int = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._caught_up_at:
                    records = self._read(max_records)
                    # A full batch (or a held topic) may have left records behind: read again.
                    caught_up = len(records) < max_records and not self._held
                    self._caught_up_at = version if caught_up else None
                    self._held = {t: until for t, until in self._held.items() if until > time.monotonic()}
                    if records:
                        return records
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                time.sleep(min(IDLE_SLEEP_S, remaining))
        except sqlite3.Error as exc:
            raise _unavailable("poll", exc) from exc

    def commit(self) -> None:
        """Store the position after every record returned by ``poll`` so far."""
        if not self._uncommitted:
            return
        rows = [
            (self._group_id, topic, self._positions[topic], topic, self._created.get(topic, -1))
            for topic in sorted(self._uncommitted)
        ]
        try:
            with _Transaction(self._conn) as conn:
                # Only for the topic this position belongs to: one deleted (and maybe created
                # again) since it was read must not inherit the old topic's position.
                conn.executemany(
                    "INSERT INTO event_consumer_offsets (group_id, topic, partition, next_offset)"
                    " SELECT ?, ?, 0, ? WHERE EXISTS (SELECT 1 FROM event_topics"
                    " WHERE name = ? AND created_ms = ?) ON CONFLICT (group_id, topic, partition)"
                    " DO UPDATE SET next_offset = excluded.next_offset",
                    rows,
                )
        except sqlite3.Error as exc:
            raise _unavailable("commit", exc) from exc
        self._uncommitted.clear()

    def hold(self, positions: Mapping[tuple[str, int], int], seconds: float) -> None:
        """See :meth:`EventConsumer.hold`."""
        until = time.monotonic() + seconds
        for (topic, _partition), offset in positions.items():
            self._positions[topic] = offset
            self._uncommitted.add(topic)
            self._held[topic] = until
        self._caught_up_at = None

    def lag(self) -> dict[str, int]:
        """Log end minus position per matching topic."""
        try:
            return {topic: max(0, end - self._position(topic)) for topic, end in self._topics()}
        except sqlite3.Error as exc:
            raise _unavailable("lag", exc) from exc

    def close(self) -> None:
        self._conn.close()
