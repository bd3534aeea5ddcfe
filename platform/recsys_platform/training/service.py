"""Training runs: create, list, execute in a background worker; schedules.

Runs are rows (``TrainingRun``) moving ``queued -> running -> succeeded | failed``. One worker
thread executes them one at a time through a :class:`~recsys_platform.training.runner.PipelineRunner`
(kfp.local keeps global state, so local runs cannot overlap anyway).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import TrainingRun
from recsys_platform.errors import Conflict, DependencyUnavailable, FieldError, NotFound
from recsys_platform.registry.ports import CHAMPION, ModelRegistry
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.tenancy.lookup import active_tenant
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.runner import PipelineFailed, PipelineRunner
from recsys_platform.training.schemas import TrainingRunPublic

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


def now() -> datetime:
    return datetime.now(UTC)


def run_public(row: TrainingRun) -> TrainingRunPublic:
    """API view of a run row."""
    return TrainingRunPublic(
        id=row.id,
        tenant_id=row.tenant_id,
        status=row.status,
        trigger=row.trigger,
        stage=row.stage,
        params=row.params or {},
        metrics=row.metrics or {},
        data_window=row.data_window or {},
        pipeline_run_id=row.pipeline_run_id,
        model_version=row.model_version,
        promoted=row.promoted,
        gate=row.gate or {},
        error=row.error,
        requested_at=row.requested_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class TrainingService:
    """Creates runs and executes them on a worker thread (``start``/``stop``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ControlPlaneSettings,
        registry: ModelRegistry,
        runner: PipelineRunner,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.registry = registry
        self.runner = runner
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Fail runs a previous process left running, re-queue queued ones, start the worker."""
        with self.sessions.begin() as s:
            for row in s.scalars(select(TrainingRun).where(TrainingRun.status.in_(ACTIVE))):
                if row.status == "running":
                    row.status, row.finished_at = "failed", now()
                    row.error = "interrupted: the control plane stopped during the run"
                else:
                    self._queue.put(row.id)
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="training-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking runs and cancel a local run in progress (its pipeline and kfp executor
        processes are stopped; the run is recorded failed at the next start)."""
        self._stop.set()
        cancel = getattr(self.runner, "cancel_all", None)
        if cancel is not None:
            cancel()
        if self._worker is not None:
            self._worker.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                run_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.execute(run_id)
            except Exception:  # the worker must survive any single run
                log.exception("training run %s crashed the worker step", run_id)

    # -- runs --------------------------------------------------------------------------------
    def create_run(self, tenant_id: str, params: TrainingParams, trigger: str = "api") -> TrainingRunPublic:
        """Queue a run; 409 when the tenant already has one queued or running."""
        if not self.settings.training.enabled:
            raise DependencyUnavailable("training is disabled in this control plane (training.enabled=false)")
        with self.sessions.begin() as s:
            active_tenant(s, tenant_id)
            busy = s.scalar(
                select(TrainingRun.id).where(
                    TrainingRun.tenant_id == tenant_id, TrainingRun.status.in_(ACTIVE)
                )
            )
            if busy:
                raise Conflict(
                    f"tenant {tenant_id!r} already has training run {busy} in progress",
                    [FieldError("tenant_id", f"run {busy} is queued or running")],
                )
            row = TrainingRun(
                id=f"tr-{uuid.uuid4().hex[:16]}",
                tenant_id=tenant_id,
                status="queued",
                trigger=trigger,
                params=params.model_dump(mode="json", exclude_defaults=True),
                metrics={},
                data_window={},
                gate={},
                promoted=False,
                requested_at=now(),
            )
            s.add(row)
            s.flush()
            public = run_public(row)
        self._queue.put(public.id)
        return public

    def list_runs(self, tenant_id: str, limit: int = 50) -> list[TrainingRunPublic]:
        """Newest first."""
        with self.sessions() as s:
            active_tenant(s, tenant_id)
            rows = s.scalars(
                select(TrainingRun)
                .where(TrainingRun.tenant_id == tenant_id)
                .order_by(TrainingRun.requested_at.desc())
                .limit(limit)
            )
            return [run_public(r) for r in rows]

    def get_run(self, tenant_id: str, run_id: str) -> TrainingRunPublic:
        with self.sessions() as s:
            row = s.get(TrainingRun, run_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound(f"training run {run_id!r} not found", [FieldError("run_id", "unknown")])
            return run_public(row)

    def _update(self, run_id: str, **values: Any) -> None:
        with self.sessions.begin() as s:
            row = s.get(TrainingRun, run_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def pipeline_arguments(self, row: TrainingRunPublic) -> dict[str, Any]:
        """Parameters of the pipeline for one run."""
        st = self.settings
        params = TrainingParams.model_validate(row.params)
        return {
            "tenant_id": row.tenant_id,
            "offline_root": str(Path(st.feature_store.offline_root).resolve())
            if st.kfp.mode == "local"
            else str(st.feature_store.offline_root),
            "mlflow_tracking_uri": st.mlflow.tracking_uri,
            "training_run_id": row.id,
            "database_url": st.training.pipeline_database_url
            or (st.database.url if st.kfp.mode == "local" else ""),
            "params_json": params.model_dump_json(),
            "registry_prefix": st.mlflow.registry_name_prefix,
            "promotion_margin": st.mlflow.promotion_margin,
        }

    def execute(self, run_id: str) -> None:
        """Run one queued run to its end, recording stage, status, metrics, version and errors."""
        with self.sessions() as s:
            row = s.get(TrainingRun, run_id)
            if row is None or row.status != "queued":
                return
            public = run_public(row)
        self._update(run_id, status="running", stage="load_data", started_at=now())
        try:
            self.registry.ensure_registered_model(public.tenant_id)
            outcome = self.runner.run(
                run_id, self.pipeline_arguments(public), lambda stage: self._update(run_id, stage=stage)
            )
            self._record_success(public, outcome.pipeline_run_id, outcome.result)
        except PipelineFailed as exc:
            self._record_failure(public, exc.reason, exc.stage, exc.pipeline_run_id)
        except Exception as exc:
            log.exception("training run %s failed", run_id)
            self._record_failure(public, f"{type(exc).__name__}: {exc}", None, None)

    def _record_success(
        self, run: TrainingRunPublic, pipeline_run_id: str, result: dict[str, Any] | None
    ) -> None:
        version = str(result["model_version"]) if result else self._version_of_run(run.tenant_id, run.id)
        if version is None:
            raise RuntimeError("the pipeline finished but registered no model version")
        info = self.registry.get_version(run.tenant_id, version)
        metrics = {k: float(v) for k, v in info.metrics.items()}
        tags = {"reason": "recsys.gate", "rule": "recsys.gate_rule"}
        gate: dict[str, Any] = {k: info.tags[t] for k, t in tags.items() if t in info.tags}
        if result:
            gate = {k: result.get(k) for k in ("reason", "rule", "champion_version", "champion_score")}
            if result.get("champion_score") is not None:
                metrics["champion_ndcg_at_10"] = float(result["champion_score"])
        self._update(
            run.id,
            status="succeeded",
            stage=None,
            finished_at=now(),
            pipeline_run_id=pipeline_run_id,
            mlflow_run_id=info.run_id,
            model_version=version,
            promoted=CHAMPION in info.aliases,
            metrics=metrics,
            gate=gate,
            data_window={
                "start": info.tags.get("recsys.data_window_start"),
                "end": info.tags.get("recsys.data_window_end"),
            },
        )
        log.info(
            "training run %s registered version %s (promoted=%s)", run.id, version, CHAMPION in info.aliases
        )

    def _record_failure(
        self, run: TrainingRunPublic, reason: str, stage: str | None, pipeline_run_id: str | None
    ) -> None:
        try:  # a version registered before a later failure must not stay behind
            version = self._version_of_run(run.tenant_id, run.id)
            champion = self.registry.get_champion(run.tenant_id)
            if version is not None and (champion is None or champion.version != version):
                self.registry.delete_version(run.tenant_id, version)
        except Exception:
            log.warning("cleaning up the versions of failed run %s failed", run.id, exc_info=True)
        self._update(
            run.id,
            status="failed",
            stage=stage,
            error=reason[:4000],
            finished_at=now(),
            pipeline_run_id=pipeline_run_id,
        )
        log.warning("training run %s failed at %s: %s", run.id, stage, reason)

    def _version_of_run(self, tenant_id: str, run_id: str) -> str | None:
        try:
            versions = self.registry.list_versions(tenant_id)
        except NotFound:
            return None
        for info in versions:
            if info.tags.get("recsys.training_run_id") == run_id:
                return info.version
        return None
