"""Policy checkpoints as MLflow model versions: registered model ``<prefix><tenant>-policy-<surface>``,
one version per checkpoint, in the tenant's experiment, with lineage tags (parent version, the
range of learned decisions, how many)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_platform.errors import DependencyUnavailable

ARTIFACT = "policy"
FILE = "policy.vw"


@dataclass(frozen=True)
class CheckpointLineage:
    tenant_id: str
    surface: str
    parent_version: str | None
    first_seq: int
    last_seq: int
    examples: int

    def tags(self) -> dict[str, str]:
        return {
            "recsys.tenant": self.tenant_id,
            "recsys.surface": self.surface,
            "recsys.parent_version": self.parent_version or "",
            "recsys.learned_from_seq": str(self.first_seq),
            "recsys.learned_to_seq": str(self.last_seq),
            "recsys.examples": str(self.examples),
            "recsys.kind": "bandit-policy",
        }


class MlflowCheckpoints:
    """Register and fetch policy checkpoints (names resolved from the tenant id, never given)."""

    def __init__(self, tracking_uri: str, name_prefix: str = "recsys-") -> None:
        self.tracking_uri = tracking_uri
        self.name_prefix = name_prefix
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            from recsys_platform.registry.mlflow_plugins import load_header_providers_without_feast

            load_header_providers_without_feast()
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def model_name(self, tenant_id: str, surface: str) -> str:
        return f"{self.name_prefix}{tenant_id}-policy-{surface}"

    def _experiment_id(self, tenant_id: str) -> str:
        name = f"{self.name_prefix}{tenant_id}"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            return str(self.client.create_experiment(name, tags={"recsys.tenant": tenant_id}))
        return str(experiment.experiment_id)

    def register(self, model: bytes, lineage: CheckpointLineage) -> str:
        """Log ``model`` as a run artifact and register it as a new version; returns the version."""
        from mlflow.exceptions import MlflowException

        name = self.model_name(lineage.tenant_id, lineage.surface)
        try:
            try:
                self.client.get_registered_model(name)
            except MlflowException:
                self.client.create_registered_model(
                    name, tags={"recsys.tenant": lineage.tenant_id, "recsys.surface": lineage.surface}
                )
            run = self.client.create_run(
                self._experiment_id(lineage.tenant_id),
                run_name=f"policy-{lineage.surface}-{lineage.last_seq}",
                tags=lineage.tags(),
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / FILE
                path.write_bytes(model)
                self.client.log_artifact(run.info.run_id, str(path), ARTIFACT)
            self.client.log_metric(run.info.run_id, "examples", lineage.examples)
            self.client.set_terminated(run.info.run_id)
            mv = self.client.create_model_version(
                name, f"{run.info.artifact_uri}/{ARTIFACT}", run_id=run.info.run_id, tags=lineage.tags()
            )
        except MlflowException as exc:
            raise DependencyUnavailable(f"MLflow at {self.tracking_uri}: {exc.message}") from exc
        return str(mv.version)

    def fetch(self, tenant_id: str, surface: str, version: str) -> bytes:
        """The checkpoint bytes of one version of this tenant's policy."""
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        name = self.model_name(tenant_id, surface)
        try:
            location = self.client.get_model_version_download_uri(name, version)
            with tempfile.TemporaryDirectory() as tmp:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{location}/{FILE}", dst_path=tmp, tracking_uri=self.tracking_uri
                )
                return Path(path).read_bytes()
        except MlflowException as exc:
            raise DependencyUnavailable(f"MLflow at {self.tracking_uri}: {exc.message}") from exc

    def versions(self, tenant_id: str, surface: str) -> list[dict[str, Any]]:
        """Registered versions with their lineage tags, newest first."""
        name = self.model_name(tenant_id, surface)
        found = self.client.search_model_versions(f"name = '{name}'")
        out = [{"version": str(v.version), "tags": dict(v.tags or {})} for v in found]
        return sorted(out, key=lambda v: int(v["version"]), reverse=True)
