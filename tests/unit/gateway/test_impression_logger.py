"""The impression logger never makes a response wait, and counts every impression's outcome."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from recsys_platform.events.log import AppendResult, OutgoingRecord
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.gateway.impressions import Impression, ImpressionLogger, ImpressionMetrics

IMP = Impression(
    recommendation_id="r1", tenant_id="acme", user_id="u", session_id=None, surface="default",
    experiment=None, experiment_id=None, variant=None, deployment="default", model_version="1",
    items=["i"], positions=[1], propensities=[1.0], fallback=False, timestamp=datetime.now(UTC),
)  # fmt: skip


def test_logged_and_failed_impressions_are_counted(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    log.ensure_topics(["p.acme.impressions"])
    metrics = ImpressionMetrics(CollectorRegistry())
    logger = ImpressionLogger(log, "p", metrics, TracerProvider().get_tracer("t"))

    async def run() -> tuple[bool, bool]:
        ok = logger.log(IMP)
        missing_topic = logger.log(replace(IMP, tenant_id="ghost"))
        await logger.drain()
        return ok, missing_topic

    queued = asyncio.run(run())
    log.close()
    assert queued == (True, True)  # both accepted without waiting for the log
    assert logger.pending == 0
    assert metrics.impressions.labels("logged")._value.get() == 1
    assert metrics.impressions.labels("failed")._value.get() == 1


class _SlowLog:
    """An event log whose appends take ``delay`` seconds (a slow broker)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[int] = []

    def append(self, topic: str, records: list[OutgoingRecord], timeout_s: float) -> list[AppendResult]:
        time.sleep(self.delay)
        self.calls.append(len(records))
        return [AppendResult(offset=i, partition=0) for i in range(len(records))]


def test_a_slow_log_never_delays_the_caller_and_a_full_queue_drops_with_a_count() -> None:
    slow = _SlowLog(0.2)
    metrics = ImpressionMetrics(CollectorRegistry())
    logger = ImpressionLogger(slow, "p", metrics, TracerProvider().get_tracer("t"), queue_size=3)  # type: ignore[arg-type]

    async def run() -> tuple[list[bool], float]:
        started = time.perf_counter()
        accepted = [logger.log(replace(IMP, recommendation_id=f"r{i}")) for i in range(5)]
        elapsed = time.perf_counter() - started
        await logger.drain()
        return accepted, elapsed

    accepted, elapsed = asyncio.run(run())
    assert elapsed < 0.1  # five calls, none waited for the 0.2 s append
    assert accepted == [True, True, True, False, False]
    assert metrics.impressions.labels("dropped")._value.get() == 2
    assert metrics.impressions.labels("logged")._value.get() == 3
    assert slow.calls == [3]  # queued impressions go out in one batch
