"""Impressions: what was shown to whom, by which variant and with which propensity.

Produced to the tenant's ``impressions`` topic after each recommendation; the stream
processor joins clicks to them (``stream/attribution.py``). A response never waits for
the log: :meth:`ImpressionLogger.log` puts the record into a bounded in-memory queue that
one background task drains in batches (one producer call per topic and batch, in a worker
thread). Every impression is counted once as ``logged``, ``failed`` or ``dropped`` (the
queue was full): none is lost without a count and a warning.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi.concurrency import run_in_threadpool
from opentelemetry import propagate, trace
from prometheus_client import CollectorRegistry, Counter

from recsys_platform.events.log import EventLog, OutgoingRecord
from recsys_platform.experiments.impression_record import (
    IMPRESSION_VERSION,
    Impression,
    decode_impression,
    encode_impression,
)
from recsys_platform.provisioning.kafka_topics import topic_name

log = logging.getLogger(__name__)
__all__ = [
    "IMPRESSION_VERSION",
    "Impression",
    "ImpressionLogger",
    "ImpressionMetrics",
    "decode_impression",
    "encode_impression",
]


#: Seconds between two warnings about dropped or failed impressions (an outage fails every one).
WARN_EVERY_SECONDS = 30.0


class ImpressionMetrics:
    """Counters of the recommendation path in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.impressions = Counter(
            "recsys_gateway_impressions_total",
            "Impressions by outcome: logged, failed (the log refused or timed out), "
            "dropped (the in-memory queue was full).",
            ["outcome"],
            registry=registry,
        )
        self.recommendations = Counter(
            "recsys_gateway_recommendations_total",
            "Recommendation responses by source (model, fallback) and reason of a fallback.",
            ["source", "reason"],
            registry=registry,
        )


class ImpressionLogger:
    """Appends impressions to ``<prefix>.<tenant>.impressions`` with trace context in headers.

    Args:
        event_log: where impressions go (Kafka, or the embedded log).
        topic_prefix: the deployment's topic prefix.
        metrics: outcome counters.
        tracer: the gateway's tracer (one PRODUCER span per impression, in the request's trace).
        queue_size: impressions waiting for the log at most; more are dropped and counted.
        batch_size: impressions per producer call at most.
        linger_seconds: how long the drain task waits after the first queued impression for more
            to join its batch (fewer, larger producer calls: less CPU per impression).
        append_timeout_seconds: how long one producer call waits for acknowledgements.
    """

    def __init__(
        self,
        event_log: EventLog,
        topic_prefix: str,
        metrics: ImpressionMetrics,
        tracer: trace.Tracer,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        linger_seconds: float = 0.01,
        append_timeout_seconds: float = 5.0,
    ) -> None:
        self._log = event_log
        self._prefix = topic_prefix
        self._metrics = metrics
        self._tracer = tracer
        self._batch_size = batch_size
        self._linger = linger_seconds
        self._append_timeout = append_timeout_seconds
        self._queue: asyncio.Queue[tuple[str, OutgoingRecord]] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None
        self._last_warning = 0.0

    def log(self, imp: Impression) -> bool:
        """Queue one impression without waiting. False when the queue was full (counted as dropped).

        Call from the event loop (a request handler); the drain task starts on first use.
        """
        topic = topic_name(self._prefix, imp.tenant_id, "impressions")
        with self._tracer.start_as_current_span(
            "recsys.gateway.impression_produce",
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.destination.name": topic, "messaging.system": "kafka"},
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        record = OutgoingRecord(
            value=encode_impression(imp),
            key=imp.user_id.encode(),
            headers=(
                ("recsys-tenant", imp.tenant_id.encode()),
                *((k, v.encode()) for k, v in carrier.items()),
            ),
        )
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain_forever())
        try:
            self._queue.put_nowait((topic, record))
        except asyncio.QueueFull:
            self._metrics.impressions.labels("dropped").inc()
            self._warn(f"impression queue full ({self._queue.maxsize}): impression dropped for {topic}")
            return False
        return True

    @property
    def pending(self) -> int:
        """Impressions queued and not yet settled."""
        return self._queue.qsize()

    async def _drain_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger > 0:
                await asyncio.sleep(self._linger)
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                by_topic: dict[str, list[OutgoingRecord]] = {}
                for topic, record in batch:
                    by_topic.setdefault(topic, []).append(record)
                for topic, records in by_topic.items():
                    await self._append(topic, records)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _append(self, topic: str, records: list[OutgoingRecord]) -> None:
        try:
            results = await run_in_threadpool(self._log.append, topic, records, self._append_timeout)
        except Exception as exc:  # the log is down: every record of the call failed
            self._metrics.impressions.labels("failed").inc(len(records))
            self._warn(f"{len(records)} impression(s) not logged to {topic}: {exc}")
            return
        ok = sum(1 for r in results if r.ok)
        failed = len(records) - ok  # a missing result counts as a failure
        if ok:
            self._metrics.impressions.labels("logged").inc(ok)
        if failed:
            self._metrics.impressions.labels("failed").inc(failed)
            error = next((r.error for r in results if not r.ok), "no result")
            self._warn(f"{failed} impression(s) not logged to {topic}: {error}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning(message)

    async def drain(self, timeout_seconds: float = 5.0) -> None:
        """Wait for queued impressions to be written, then stop the drain task (shutdown)."""
        if self._worker is not None and not self._worker.done():
            try:
                await asyncio.wait_for(self._queue.join(), timeout_seconds)
            except TimeoutError:
                log.warning("%d impression(s) still queued at shutdown", self._queue.qsize())
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
