"""Consume events, update real-time user features, append the offline store, commit.

At-least-once from the log, exactly once in effect: each user's row carries the ids
of the events applied to it (written atomically with the row), and offline readers
de-duplicate by event id. Offsets are committed only after every write of the batch
succeeded; a failed write is retried with backoff, holding the batch, never skipped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from opentelemetry import propagate, trace

from recsys_platform.bandit.loop import BanditLoop
from recsys_platform.errors import DependencyUnavailable, NotFound
from recsys_platform.events.log import (
    ConsumedRecord,
    EventConsumer,
    EventLog,
    EventLogUnavailable,
    OutgoingRecord,
)
from recsys_platform.events.schemas import Envelope, decode_envelope
from recsys_platform.experiments.impression_record import Impression, decode_impression
from recsys_platform.features.ports import UserFeatureStore
from recsys_platform.features.state import (
    HISTORY_ITEMS,
    AppliedEvent,
    UserState,
    apply_events,
    interaction_weight,
)
from recsys_platform.offline.parquet_store import OfflineEvent, OfflineEventStore
from recsys_platform.privacy.erasure import Eraser
from recsys_platform.provisioning.kafka_topics import topic_name
from recsys_platform.stream.attribution import Attribution
from recsys_platform.stream.directory import TenantDirectory
from recsys_platform.stream.metrics import StreamMetrics
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.streaming.ports import ItemStatsStore

log = logging.getLogger(__name__)
#: Most events per item-state write (a 1,000-event Redis script blocked Redis for 0.7 s).
ITEM_STATS_CHUNK = 200


def events_topic_pattern(prefix: str, impressions: bool = False) -> str:
    """Every tenant's events topic (and impressions topic, when attributing clicks)."""
    kinds = "(?:events|impressions)" if impressions else "events"
    return rf"^{re.escape(prefix)}\.[a-z][a-z0-9-]*[a-z0-9]\.{kinds}$"


@dataclass
class _TenantBatch:
    envelopes: list[tuple[ConsumedRecord, Envelope]] = field(default_factory=list)


class StreamProcessor:
    """One consumer of every tenant's events topic."""

    def __init__(
        self,
        event_log: EventLog,
        features: UserFeatureStore,
        offline: OfflineEventStore,
        directory: TenantDirectory,
        metrics: StreamMetrics,
        *,
        topic_prefix: str = "recsys",
        group_id: str = "recsys-stream",
        max_batch: int = 500,
        poll_timeout_seconds: float = 0.05,
        retry_backoff_max_seconds: float = 5.0,
        half_life_hours: dict[str, float] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracer: trace.Tracer | None = None,
        attribution: Attribution | None = None,
        history_items: int = HISTORY_ITEMS,
        item_stats: ItemStatsStore | None = None,
        bandit: BanditLoop | None = None,
        eraser: Eraser | None = None,
    ) -> None:
        self._log = event_log
        self._features = features
        self._offline = offline
        self._directory = directory
        self._metrics = metrics
        self._prefix = topic_prefix
        self._max_batch = max_batch
        self._poll_timeout = poll_timeout_seconds
        self._backoff_max = retry_backoff_max_seconds
        self._half_life_h = half_life_hours or {}
        self._clock = clock
        self._tracer = tracer or trace.get_tracer("recsys.stream")
        self._stop = threading.Event()
        self._attribution = attribution
        self._history_items = history_items
        self._item_stats = item_stats
        self._bandit = bandit
        self._eraser = eraser
        self._consumer: EventConsumer = event_log.consumer(
            group_id,
            events_topic_pattern(topic_prefix, impressions=attribution is not None or bandit is not None),
        )
        self._last_lag_update = 0.0
        self._paused: dict[str, tuple[int, str, float]] = {}  # tenant -> (failures, error, since)

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Process until :meth:`stop`; finishes (and commits) the batch in hand first."""
        log.info("stream processor started")
        try:
            while not self._stop.is_set():
                self.process_once()
        except _Abandoned:
            log.info("stopped during retries; the batch in hand stays uncommitted")
        finally:
            if self._bandit is not None:
                try:  # what was learned since the last checkpoint (a restart would replay it anyway)
                    self._bandit.checkpoint_now()
                except Exception:
                    log.warning("bandit checkpoint at shutdown failed", exc_info=True)
            self._consumer.close()
            log.info("stream processor stopped")

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def lag(self) -> dict[str, int]:
        return self._consumer.lag()

    # -- one batch -------------------------------------------------------------------------

    def process_once(self) -> int:
        """Poll one batch, process and commit it; returns the number of records."""
        try:
            records = self._consumer.poll(self._max_batch, self._poll_timeout)
        except EventLogUnavailable as exc:
            # The broker is away: nothing was taken, so nothing is lost; wait and poll again.
            log.warning("event log unavailable; polling again shortly: %s", exc.detail)
            self._stop.wait(min(1.0, self._backoff_max))
            return 0
        self._update_lag()
        if self._bandit is not None:
            self._with_retries("bandit_learn", self._bandit.tick)
        self._run_erasures()
        if not records:
            return 0
        start = time.perf_counter()
        by_tenant: dict[str, _TenantBatch] = defaultdict(_TenantBatch)
        dead: dict[str, list[OutgoingRecord]] = defaultdict(list)
        impressions: list[Impression] = []
        for record in records:
            if record.topic.endswith(".impressions"):
                self._take_impression(record, impressions, dead)
                continue
            tenant_id, env, reason = self._decode(record)
            if env is not None and self._eraser is not None:
                if self._eraser.erased(env.tenant_id, env.event.user_id, env.received_at):
                    # received before the user's data was erased: a replay must not bring it back
                    self._metrics.events.labels(env.tenant_id, "erased_user").inc()
                    continue
            if env is None and tenant_id is not None and reason == _INACTIVE:
                # The tenant is gone (purged; its topics and dead-letter topic with it).
                self._metrics.events.labels(tenant_id, "dropped_inactive_tenant").inc()
                continue
            if env is None:
                self._metrics.events.labels(tenant_id or "unknown", "dead_letter").inc()
                if tenant_id is not None:
                    dead[tenant_id].append(_dead_letter(record, reason))
                else:
                    log.error(
                        "record outside any tenant topic dropped: %s",
                        reason,
                        extra={"topic": record.topic, "offset": record.offset},
                    )
                continue
            by_tenant[tenant_id or env.tenant_id].envelopes.append((record, env))

        # Each tenant's writes succeed or fail on their own: a tenant whose store fails is
        # held (its partitions rewound and paused, retried after a backoff), the others go on.
        held: set[str] = set()
        for tenant_id in dict.fromkeys([*by_tenant, *dead]):
            if not self._apply_tenant(tenant_id, by_tenant.get(tenant_id), dead.get(tenant_id, [])):
                held.add(tenant_id)
        if self._attribution is not None or self._bandit is not None:
            clicks = [(t, env.event) for t, b in by_tenant.items() if t not in held for _, env in b.envelopes]
            if self._attribution is not None:
                self._with_retries("attribution", partial(self._attribution.apply, impressions, clicks))
            if self._bandit is not None:
                self._with_retries("bandit_rewards", partial(self._bandit.apply, impressions, clicks))
        try:
            self._consumer.commit()
        except EventLogUnavailable as exc:
            # Written but not committed: the batch comes again and counts once (event ids).
            log.warning("commit failed; the batch will be redelivered: %s", exc.detail)
        self._metrics.batch_seconds.observe(time.perf_counter() - start)
        return len(records)

    # -- per-tenant isolation -------------------------------------------------------------

    def _apply_tenant(
        self, tenant_id: str, batch: _TenantBatch | None, letters: list[OutgoingRecord]
    ) -> bool:
        """All writes of one tenant's share of the batch; False if the tenant is now held.

        A transient failure (store down, read-only file, timeout) is retried a few times at
        once, then the tenant's partitions are rewound to its first record of this batch
        and paused for a backoff; the other tenants' records are committed meanwhile. A
        record that fails on its own with a non-transient error (a poison record) is
        dead-lettered with the reason, and the tenant's other records are applied.
        """
        records = [r for r, _ in batch.envelopes] if batch else []
        records += [_source_of(letter) for letter in letters]
        try:
            self._tenant_writes(tenant_id, batch, letters)
        except _Abandoned:
            raise
        except Exception as exc:
            if batch is not None and not _transient(exc) and len(batch.envelopes) > 0:
                try:
                    self._isolate_poison(tenant_id, batch, letters)
                    self._tenant_ok(tenant_id)
                    return True
                except _Abandoned:
                    raise
                except Exception as again:
                    exc = again
            self._hold_tenant(tenant_id, records, exc)
            return False
        self._tenant_ok(tenant_id)
        return True

    def _tenant_writes(
        self, tenant_id: str, batch: _TenantBatch | None, letters: list[OutgoingRecord]
    ) -> None:
        if batch is not None and batch.envelopes:
            self._quick_retries(tenant_id, "features", partial(self._apply_features, tenant_id, batch))
            self._quick_retries(tenant_id, "offline", partial(self._append_offline, tenant_id, batch))
            if self._item_stats is not None:
                self._quick_retries(
                    tenant_id, "item_stats", partial(self._apply_item_stats, tenant_id, batch)
                )
        if letters:
            dlq = topic_name(self._prefix, tenant_id, "dead-letter")
            self._quick_retries(tenant_id, "dead_letter", partial(self._append_dead, dlq, letters))

    def _quick_retries(self, tenant_id: str, target: str, action: Callable[[], object]) -> None:
        delay = 0.05
        for attempt in range(TENANT_QUICK_RETRIES + 1):
            try:
                action()
                return
            except Exception as exc:
                self._metrics.retries.labels(target).inc()
                self._metrics.tenant_failures.labels(tenant_id, target).inc()
                if attempt == TENANT_QUICK_RETRIES or not _transient(exc):
                    raise _TenantWriteFailed(target, exc) from exc
                log.warning("write to %s of tenant %s failed; retrying: %s", target, tenant_id, exc)
                if self._stop.wait(delay):
                    raise _Abandoned() from exc
                delay *= 2

    def _isolate_poison(self, tenant_id: str, batch: _TenantBatch, letters: list[OutgoingRecord]) -> None:
        """Apply the records one at a time; the ones failing alone with a non-transient error
        go to the tenant's dead-letter topic, a transient error holds the tenant."""
        poison: list[OutgoingRecord] = []
        for record, env in batch.envelopes:
            try:
                self._tenant_writes(tenant_id, _TenantBatch([(record, env)]), [])
            except _TenantWriteFailed as exc:
                if _transient(exc.cause):
                    raise
                log.error("poison record of tenant %s dead-lettered: %s", tenant_id, exc.cause)
                self._metrics.events.labels(tenant_id, "dead_letter").inc()
                poison.append(
                    _dead_letter(record, f"processing failed in {exc.target}: {exc.cause!r}"[:2000])
                )
        self._tenant_writes(tenant_id, None, [*letters, *poison])

    def _hold_tenant(self, tenant_id: str, records: list[ConsumedRecord], exc: Exception) -> None:
        failures = self._paused.get(tenant_id, (0, "", 0.0))[0] + 1
        seconds = min(self._backoff_max, 0.1 * 2 ** (failures - 1))
        first: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            first[key] = min(first.get(key, r.offset), r.offset)
        self._consumer.hold(first, seconds)
        since = self._paused.get(tenant_id, (0, "", time.time()))[2]
        self._paused[tenant_id] = (failures, f"{type(exc).__name__}: {exc}"[:500], since)
        self._metrics.tenant_paused.labels(tenant_id).set(1)
        log.warning(
            "tenant %s paused for %.2fs after %d failed attempt(s); other tenants go on: %s",
            tenant_id,
            seconds,
            failures,
            exc,
        )

    def _tenant_ok(self, tenant_id: str) -> None:
        if self._paused.pop(tenant_id, None) is not None:
            self._metrics.tenant_paused.labels(tenant_id).set(0)
            log.info("tenant %s resumed", tenant_id)

    def paused_tenants(self) -> dict[str, dict[str, object]]:
        """Tenants whose processing is held after a failure: attempts, last error, since."""
        return {
            t: {"failures": n, "error": error, "since": datetime.fromtimestamp(since, UTC).isoformat()}
            for t, (n, error, since) in sorted(self._paused.items())
        }

    def check_tenants(self) -> None:
        """Readiness: raise naming the tenants that are held (the others are processed)."""
        paused = self.paused_tenants()
        if paused:
            detail = "; ".join(f"{t}: {p['error']}" for t, p in paused.items())
            raise RuntimeError(f"processing paused for {len(paused)} tenant(s): {detail}")

    def tenant_lag(self) -> dict[str, int]:
        """Records not yet processed per tenant (its events and impressions topics)."""
        out: dict[str, int] = {}
        for topic, lag in self._consumer.lag().items():
            tenant = _tenant_of(topic, self._prefix) or _tenant_of(topic, self._prefix, "impressions")
            if tenant is not None:
                out[tenant] = out.get(tenant, 0) + lag
        return out

    def _take_impression(
        self, record: ConsumedRecord, out: list[Impression], dead: dict[str, list[OutgoingRecord]]
    ) -> None:
        tenant_id = _tenant_of(record.topic, self._prefix, "impressions")
        try:
            imp = decode_impression(record.value)
            if imp.tenant_id != tenant_id:
                raise ValueError(f"tenant_id '{imp.tenant_id}' does not match topic tenant")
        except ValueError as exc:
            self._metrics.events.labels(tenant_id or "unknown", "dead_letter").inc()
            if tenant_id is not None:
                dead[tenant_id].append(_dead_letter(record, f"invalid impression: {exc}"[:2000]))
            return
        self._metrics.events.labels(imp.tenant_id, "impression").inc()
        out.append(imp)

    def _decode(self, record: ConsumedRecord) -> tuple[str | None, Envelope | None, str]:
        tenant_id = _tenant_of(record.topic, self._prefix)
        if tenant_id is None:
            return None, None, f"topic {record.topic} is not a tenant events topic"
        try:
            env = decode_envelope(record.value)
        except ValueError as exc:
            return tenant_id, None, f"invalid event: {exc}"[:2000]
        if env.tenant_id != tenant_id:
            return tenant_id, None, f"tenant_id '{env.tenant_id}' does not match topic tenant"
        if self._directory.tenant(tenant_id) is None:
            return tenant_id, None, _INACTIVE
        return tenant_id, env, ""

    def _apply_features(self, tenant_id: str, batch: _TenantBatch) -> None:
        info = self._directory.tenant(tenant_id)
        half_life_s = self._half_life_h.get(info.use_case if info else "", 24.0) * 3600
        users = sorted({env.event.user_id for _, env in batch.envelopes})
        current = self._features.read_many(tenant_id, users)
        states: dict[str, UserState] = {u: current.get(u) or UserState(user_id=u) for u in users}
        changed: set[str] = set()
        applied = duplicates = 0
        ordered = sorted(batch.envelopes, key=lambda re_: re_[1].event.timestamp)
        by_user: dict[str, list[AppliedEvent]] = defaultdict(list)
        for record, env in ordered:
            e = env.event
            with _continue_trace(self._tracer, record):
                by_user[e.user_id].append(
                    AppliedEvent(
                        event_id=e.event_id,
                        type=e.type,
                        item_id=e.item_id,
                        timestamp_ms=e.timestamp_ms,
                        session_id=e.session_id,
                        value=e.value,
                        categories=self._directory.categories(tenant_id, e.item_id),
                    )
                )
        for user, events in by_user.items():
            before = states[user]
            after = apply_events(before, events, half_life_s, self._history_items)
            new = after.event_count - before.event_count
            applied += new
            duplicates += len(events) - new
            if after is not before:
                states[user] = after
                changed.add(user)
        if changed:
            self._features.write(tenant_id, [states[u] for u in sorted(changed)])
        now = self._clock()
        for _, env in batch.envelopes:
            self._metrics.freshness.observe(max(0.0, (now - env.received_at).total_seconds()))
        self._metrics.events.labels(tenant_id, "applied").inc(applied)
        self._metrics.events.labels(tenant_id, "duplicate").inc(duplicates)

    def _apply_item_stats(self, tenant_id: str, batch: _TenantBatch) -> None:
        """Trending, transitions and sessions of the tenant's item state, on event time (one
        atomic, idempotent write per batch; events for items not in the catalog count too)."""
        assert self._item_stats is not None
        events = [
            ItemEvent(
                event_id=e.event_id,
                user_id=e.user_id,
                item_id=e.item_id,
                timestamp_ms=e.timestamp_ms,
                session_id=e.session_id,
                weight=weight,
            )
            for e in (env.event for _, env in batch.envelopes)
            if e.item_id is not None and (weight := interaction_weight(e.type, e.value)) > 0
        ]
        # Chunks, not the whole batch in one script: a Redis script blocks the server (which
        # also holds every tenant's online rows and the gateway's rate limits) while it runs.
        # Each chunk is atomic and idempotent by event id, so a retry after a failed chunk
        # applies only what is missing.
        for start in range(0, len(events), ITEM_STATS_CHUNK):
            applied = self._item_stats.apply(tenant_id, events[start : start + ITEM_STATS_CHUNK])
            self._metrics.events.labels(tenant_id, "item_stats").inc(applied)

    def _append_offline(self, tenant_id: str, batch: _TenantBatch) -> None:
        by_partition: dict[tuple[str, int], list[tuple[ConsumedRecord, Envelope]]] = defaultdict(list)
        for record, env in batch.envelopes:
            by_partition[(record.topic, record.partition)].append((record, env))
        for (topic, partition), items in by_partition.items():
            first, last = items[0][0].offset, items[-1][0].offset
            events = [
                OfflineEvent(
                    event_id=env.event.event_id,
                    user_id=env.event.user_id,
                    item_id=env.event.item_id,
                    type=env.event.type,
                    timestamp=env.event.timestamp,
                    received_at=env.received_at,
                    session_id=env.event.session_id,
                    value=env.event.value,
                    context=dict(env.event.context) or None,
                    recommendation_id=env.event.recommendation_id,
                )
                for _, env in items
            ]
            self._offline.append(tenant_id, events, batch_id=f"{topic}-{partition}-{first}-{last}")

    def _append_dead(self, topic: str, records: list[OutgoingRecord]) -> None:
        results = self._log.append(topic, records)
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"dead-letter append to {topic} failed: {failed[0]}")

    def _with_retries(self, target: str, action: Callable[[], object]) -> None:
        delay = 0.05
        while True:
            try:
                action()
                return
            except Exception as exc:
                self._metrics.retries.labels(target).inc()
                log.warning(
                    "write to %s failed; retrying in %.2fs without committing: %s", target, delay, exc
                )
                if self._stop.wait(delay):
                    # shutting down: leave offsets uncommitted, the batch is redelivered
                    raise _Abandoned() from exc
                delay = min(delay * 2, self._backoff_max)

    def _run_erasures(self) -> None:
        if self._eraser is None:
            return
        try:
            self._eraser.run_pending()
        except Exception:  # the database is away: erasures wait, events go on
            log.warning("could not look for end-user erasure requests", exc_info=True)

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_update < 1.0:
            return
        self._last_lag_update = now
        for tenant_id in list(self._paused):  # a tenant deleted while held is not waited for
            if self._directory.tenant(tenant_id) is None:
                self._tenant_ok(tenant_id)
        try:
            for topic, lag in self._consumer.lag().items():
                self._metrics.lag.labels(topic).set(lag)
        except Exception:  # lag is best effort; processing goes on
            log.debug("lag update failed", exc_info=True)


class _Abandoned(Exception):
    """Raised out of a batch when stopping during retries (offsets stay uncommitted)."""


class _TenantWriteFailed(Exception):
    def __init__(self, target: str, cause: Exception) -> None:
        super().__init__(f"{target}: {type(cause).__name__}: {cause}")
        self.target, self.cause = target, cause


_INACTIVE = "unknown or inactive tenant"
#: Immediate retries of a tenant's write before the tenant is held with a backoff.
TENANT_QUICK_RETRIES = 2


def _transient(exc: BaseException) -> bool:
    """Whether a failure is the store's (retry later), not the record's (dead-letter it)."""
    if isinstance(exc, _TenantWriteFailed):
        return _transient(exc.cause)
    # NotFound: the tenant's project is gone or not there yet (deleted, re-created), not a record's fault
    if isinstance(exc, (DependencyUnavailable, NotFound, OSError, TimeoutError, ConnectionError)):
        return True
    module = type(exc).__module__
    return module.startswith(("sqlite3", "redis", "kafka", "sqlalchemy", "botocore"))


def _source_of(letter: OutgoingRecord) -> ConsumedRecord:
    """The consumed record a dead letter was made of (its position is in a header)."""
    source = dict(letter.headers)["recsys-dlq-source"].decode()
    topic, partition, offset = source.rsplit("/", 2)
    return ConsumedRecord(topic, int(partition), int(offset), letter.value, letter.key, (), 0)


def _tenant_of(topic: str, prefix: str, kind: str = "events") -> str | None:
    head, tail = prefix + ".", "." + kind
    if not topic.startswith(head) or not topic.endswith(tail):
        return None
    return topic[len(head) : -len(tail)] or None


def _dead_letter(record: ConsumedRecord, reason: str) -> OutgoingRecord:
    headers = tuple(h for h in record.headers if h[0] != "recsys-dlq-reason") + (
        ("recsys-dlq-reason", reason.encode()),
        ("recsys-dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    )
    return OutgoingRecord(value=record.value, key=record.key, headers=headers)


def _continue_trace(tracer: trace.Tracer, record: ConsumedRecord) -> AbstractContextManager[Any]:
    """A consumer span, child of the producer's trace carried in the record headers."""
    carrier = {k: v.decode("latin-1") for k, v in record.headers}
    ctx = propagate.extract(carrier)
    return tracer.start_as_current_span(
        "recsys.stream.apply_event",
        context=ctx,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.destination.name": record.topic, "messaging.kafka.offset": record.offset},
    )
