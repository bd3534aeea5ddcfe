"""The run service's bookkeeping with a runner that returns no step output (the Kubeflow case).

The MLflow side is a small in-memory registry here; the real one is covered by
tests/integration/training against the MLflow server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.db.models import Tenant
from recsys_platform.errors import Conflict
from recsys_platform.registry.ports import CHAMPION, ModelVersionInfo
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.runner import PipelineFailed, PipelineOutcome, StageCallback
from recsys_platform.training.service import TrainingService


class MemoryRegistry:
    def __init__(self) -> None:
        self.versions: dict[str, ModelVersionInfo] = {}
        self.deleted: list[str] = []

    def add(self, run_id: str, aliases: tuple[str, ...] = ()) -> str:
        version = str(len(self.versions) + len(self.deleted) + 1)
        self.versions[version] = ModelVersionInfo(
            "recsys-acme",
            version,
            aliases,
            {"ndcg_at_10": 0.25, "holdout_reachability": 0.9},
            {
                "recsys.training_run_id": run_id,
                "recsys.gate": "first model of the tenant: ...",
                "recsys.gate_rule": "first_model",
            },
            "mlflow-run",
            0,
        )
        return version

    def ensure_registered_model(self, tenant_id: str) -> str:
        return "recsys-acme"

    def list_versions(self, tenant_id: str) -> list[ModelVersionInfo]:
        return list(self.versions.values())

    def get_version(self, tenant_id: str, version: str) -> ModelVersionInfo:
        return self.versions[version]

    def get_champion(self, tenant_id: str) -> ModelVersionInfo | None:
        return next((v for v in self.versions.values() if CHAMPION in v.aliases), None)

    def delete_version(self, tenant_id: str, version: str) -> None:
        self.versions.pop(version)
        self.deleted.append(version)


class ScriptedRunner:
    def __init__(self, registry: MemoryRegistry, *, fail_after_register: bool = False) -> None:
        self.registry = registry
        self.fail_after_register = fail_after_register
        self.arguments: dict[str, Any] = {}

    def run(self, run_id: str, arguments: dict[str, Any], on_stage: StageCallback) -> PipelineOutcome:
        self.arguments = arguments
        for stage in ("load_data", "train", "evaluate", "register"):
            on_stage(stage)
        self.registry.add(run_id, aliases=() if self.fail_after_register else (CHAMPION,))
        if self.fail_after_register:
            raise PipelineFailed("deploy step: cluster unreachable", "register", "kfp-run-2")
        return PipelineOutcome("kfp-run-1", None)


@pytest.fixture
def service_parts(tmp_path: Path) -> Iterator[tuple[Any, MemoryRegistry]]:
    engine = build_engine(f"sqlite:///{tmp_path / 'cp.db'}")
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(
            Tenant(
                id="acme", display_name="Acme", use_case="news", quotas={}, retention={}, catalog_schema={}
            )
        )
    yield sessions, MemoryRegistry()
    engine.dispose()


def make(
    sessions: Any, registry: MemoryRegistry, runner: ScriptedRunner, **settings: Mapping[str, Any]
) -> Any:
    cp = ControlPlaneSettings(kfp={"mode": "kubeflow", "host": "http://kfp"}, **settings)  # type: ignore[arg-type]
    return TrainingService(sessions, cp, registry, runner)  # type: ignore[arg-type]


def test_success_without_step_output_reads_version_metrics_and_gate_from_the_registry(
    service_parts: tuple[Any, MemoryRegistry],
) -> None:
    sessions, registry = service_parts
    runner = ScriptedRunner(registry)
    service = make(sessions, registry, runner)
    run = service.create_run("acme", TrainingParams(holdout_fraction=0.3))
    with pytest.raises(Conflict, match="already has training run"):
        service.create_run("acme", TrainingParams())
    service.execute(run.id)

    done = service.get_run("acme", run.id)
    assert (done.status, done.model_version, done.promoted) == ("succeeded", "1", True)
    assert done.pipeline_run_id == "kfp-run-1"
    assert done.metrics == {"ndcg_at_10": 0.25, "holdout_reachability": 0.9}
    assert done.gate == {"reason": "first model of the tenant: ...", "rule": "first_model"}
    assert done.params == {"holdout_fraction": 0.3}
    # Kubeflow mode: no database password among the run parameters, params as JSON
    assert runner.arguments["database_url"] == ""
    assert TrainingParams.model_validate_json(runner.arguments["params_json"]).holdout_fraction == 0.3


def test_failure_after_registration_deletes_the_runs_version(
    service_parts: tuple[Any, MemoryRegistry],
) -> None:
    sessions, registry = service_parts
    service = make(sessions, registry, ScriptedRunner(registry, fail_after_register=True))
    run = service.create_run("acme", TrainingParams())
    service.execute(run.id)
    failed = service.get_run("acme", run.id)
    assert (failed.status, failed.stage, failed.error) == (
        "failed",
        "register",
        "deploy step: cluster unreachable",
    )
    assert registry.versions == {} and registry.deleted == ["1"]


def test_restart_fails_running_runs_and_requeues_queued_ones(
    service_parts: tuple[Any, MemoryRegistry],
) -> None:
    sessions, registry = service_parts
    service = make(sessions, registry, ScriptedRunner(registry))
    run = service.create_run("acme", TrainingParams())
    service._update(run.id, status="running")
    restarted = make(sessions, registry, ScriptedRunner(registry))
    restarted.start()
    restarted.stop()
    interrupted = restarted.get_run("acme", run.id)
    assert interrupted.status == "failed" and "interrupted" in (interrupted.error or "")
