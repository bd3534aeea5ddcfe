"""Training schedules (``TrainingSchedule`` rows) and the loop that turns due ones into runs."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import TrainingSchedule
from recsys_platform.errors import Conflict, FieldError, NotFound
from recsys_platform.tenancy.lookup import active_tenant
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.schemas import TrainingSchedulePublic, TrainingScheduleUpdate
from recsys_platform.training.service import TrainingService, now

log = logging.getLogger(__name__)


def _public(row: TrainingSchedule) -> TrainingSchedulePublic:
    return TrainingSchedulePublic(
        tenant_id=row.tenant_id,
        interval_minutes=row.interval_minutes,
        enabled=row.enabled,
        params=row.params or {},
        next_run_at=row.next_run_at,
        last_run_id=row.last_run_id,
    )


class ScheduleService:
    """CRUD of a tenant's one schedule."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, tenant_id: str) -> TrainingSchedulePublic:
        with self.sessions() as s:
            active_tenant(s, tenant_id)
            row = s.get(TrainingSchedule, tenant_id)
            if row is None:
                raise NotFound(
                    f"tenant {tenant_id!r} has no training schedule", [FieldError("tenant_id", "no schedule")]
                )
            return _public(row)

    def put(self, tenant_id: str, body: TrainingScheduleUpdate) -> TrainingSchedulePublic:
        """Create or replace; the next run is due one interval from now."""
        with self.sessions.begin() as s:
            active_tenant(s, tenant_id)
            row = s.get(TrainingSchedule, tenant_id)
            if row is None:
                row = TrainingSchedule(tenant_id=tenant_id)
                s.add(row)
            row.interval_minutes = body.interval_minutes
            row.enabled = body.enabled
            row.params = body.params.model_dump(mode="json", exclude_defaults=True)
            row.next_run_at = now() + timedelta(minutes=body.interval_minutes)
            row.updated_at = now()
            s.flush()
            return _public(row)

    def delete(self, tenant_id: str) -> None:
        with self.sessions.begin() as s:
            active_tenant(s, tenant_id)
            row = s.get(TrainingSchedule, tenant_id)
            if row is None:
                raise NotFound(
                    f"tenant {tenant_id!r} has no training schedule", [FieldError("tenant_id", "no schedule")]
                )
            s.delete(row)


class TrainingScheduler:
    """Every ``interval_seconds``, queue a run for each enabled schedule whose time has come.

    Claiming a due schedule is a conditional update on ``next_run_at``, so when several
    control-plane replicas run this loop only one of them queues the run.
    """

    def __init__(
        self, sessions: sessionmaker[Session], training: TrainingService, interval_seconds: float
    ) -> None:
        self.sessions = sessions
        self.training = training
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="training-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.tick()
            except Exception:
                log.exception("training scheduler tick failed")

    def tick(self, at: datetime | None = None) -> list[str]:
        """Queue runs for due schedules; returns the new run ids."""
        at = at or now()
        with self.sessions() as s:
            due = s.execute(
                select(
                    TrainingSchedule.tenant_id,
                    TrainingSchedule.next_run_at,
                    TrainingSchedule.interval_minutes,
                ).where(TrainingSchedule.enabled.is_(True), TrainingSchedule.next_run_at <= at)
            ).all()
        started: list[str] = []
        for tenant_id, due_at, minutes in due:
            with self.sessions.begin() as s:
                result = s.execute(
                    update(TrainingSchedule)
                    .where(TrainingSchedule.tenant_id == tenant_id, TrainingSchedule.next_run_at == due_at)
                    .values(next_run_at=at + timedelta(minutes=minutes))
                )
            if not getattr(result, "rowcount", 0):
                continue
            with self.sessions() as s:
                row = s.get(TrainingSchedule, tenant_id)
                params = TrainingParams.model_validate(row.params if row else {})
            try:
                run = self.training.create_run(tenant_id, params, trigger="schedule")
            except Conflict:
                log.info("scheduled training of %s skipped: a run is already in progress", tenant_id)
                continue
            except NotFound:
                continue
            with self.sessions.begin() as s:
                s.execute(
                    update(TrainingSchedule)
                    .where(TrainingSchedule.tenant_id == tenant_id)
                    .values(last_run_id=run.id)
                )
            started.append(run.id)
        return started
