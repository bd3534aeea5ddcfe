"""Purging a tenant's registered models on the real MLflow server (proxied artifacts): the runs'
files go, whatever this process's global MLflow tracking URI says."""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
from recsys_platform.registry.mlflow_registry import MlflowModelRegistry


def test_a_purge_deletes_the_tenants_run_files_on_the_tracking_server(
    mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    registry = MlflowModelRegistry(mlflow_tracking_uri, f"purge-{uuid.uuid4().hex[:6]}-")
    tenant = "gone-shop"
    experiment = registry.client.get_experiment(registry._experiment_id(tenant))
    run = registry.client.create_run(experiment.experiment_id)
    (tmp_path / "model.txt").write_text("the old owner's model")
    registry.client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"))
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # stored by the server, not here
    assert [a.path for a in registry.client.list_artifacts(run.info.run_id)] == ["model.txt"]
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")  # a process without the env var
    try:
        registry.delete_registered_model(tenant)
    finally:
        mlflow.set_tracking_uri(previous)
    assert registry.client.list_artifacts(run.info.run_id) == []
    assert registry.client.get_experiment_by_name(registry.model_name(tenant)).lifecycle_stage == "deleted"
