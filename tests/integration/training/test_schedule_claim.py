"""Schedules on PostgreSQL: two control-plane replicas ticking at once queue one run per slot."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.db.models import Tenant, TrainingRun
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.training.schedule import ScheduleService, TrainingScheduler
from recsys_platform.training.schemas import TrainingScheduleUpdate
from recsys_platform.training.service import TrainingService
from sqlalchemy import select

pytestmark = pytest.mark.integration


class NeverRuns:
    def run(self, *args: Any) -> Any:
        raise AssertionError("the worker is not started in this test")


def test_concurrent_ticks_claim_a_due_schedule_once(postgres_test_db: str) -> None:
    engine = build_engine(postgres_test_db)
    sessions = session_factory(engine)
    tenant = f"sched-{uuid.uuid4().hex[:8]}"
    with sessions.begin() as s:
        s.add(
            Tenant(
                id=tenant, display_name=tenant, use_case="news", quotas={}, retention={}, catalog_schema={}
            )
        )
    schedule = ScheduleService(sessions).put(tenant, TrainingScheduleUpdate(interval_minutes=15))
    settings = ControlPlaneSettings()
    replicas = [
        TrainingScheduler(sessions, TrainingService(sessions, settings, None, NeverRuns()), 3600)  # type: ignore[arg-type]
        for _ in range(4)
    ]
    due = schedule.next_run_at + timedelta(seconds=1)
    started: list[list[str]] = []
    barrier = threading.Barrier(len(replicas))

    def tick(replica: TrainingScheduler) -> None:
        barrier.wait()
        started.append(replica.tick(at=due))

    threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(s) for s in started) == [0, 0, 0, 1]
    with sessions() as s:
        runs = s.scalars(select(TrainingRun).where(TrainingRun.tenant_id == tenant)).all()
        assert [(r.trigger, r.status) for r in runs] == [("schedule", "queued")]
    after = ScheduleService(sessions).get(tenant)
    assert after.next_run_at == due + timedelta(minutes=15)
    assert after.last_run_id == runs[0].id
    engine.dispose()
