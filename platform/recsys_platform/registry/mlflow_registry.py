"""MLflow adapter of the model-registry port (tracking server + model registry, aliases).

``mlflow`` is imported inside the methods (about 3 s); building the adapter is free.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recsys_platform.errors import Conflict, DependencyUnavailable, FieldError, NotFound
from recsys_platform.registry.gate import GateEvidence, GatePolicy, decide
from recsys_platform.registry.ports import (
    CHALLENGER,
    CHAMPION,
    GATE_METRIC,
    GateDecision,
    Lineage,
    ModelVersionInfo,
)

log = logging.getLogger(__name__)
HISTORY_TAG = "recsys.champion_history"
MAX_VERSIONS = 200


def find_manifest_dir(root: Path) -> Path:
    """The directory under ``root`` that holds ``manifest.json`` (the model artifact)."""
    for manifest in sorted(root.rglob("manifest.json")):
        return manifest.parent
    raise NotFound(f"no manifest.json in the downloaded model at {root}")


class MlflowModelRegistry:
    """Registered model ``<prefix><tenant_id>`` and experiment of the same name per tenant."""

    def __init__(
        self,
        tracking_uri: str,
        name_prefix: str = "recsys-",
        timeout_seconds: float = 10.0,
        artifact_root: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.name_prefix = name_prefix
        self.timeout_seconds = timeout_seconds
        self.artifact_root = artifact_root
        self._client: Any = None

    # -- helpers ----------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            from recsys_platform.registry.mlflow_plugins import load_header_providers_without_feast

            load_header_providers_without_feast()

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def model_name(self, tenant_id: str) -> str:
        """``<prefix><tenant_id>``, e.g. ``recsys-acme``."""
        return f"{self.name_prefix}{tenant_id}"

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"{what}: not found in the model registry") from exc
            if exc.error_code in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR") or "Max retries" in str(exc):
                raise DependencyUnavailable(f"MLflow at {self.tracking_uri} failed: {exc.message}") from exc
            raise

    def _experiment_id(self, tenant_id: str) -> str:
        name = self.model_name(tenant_id)
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            location = None
            if self.artifact_root and not self.tracking_uri.startswith(("http://", "https://")):
                folder = Path(self.artifact_root).resolve() / name
                folder.mkdir(parents=True, exist_ok=True)
                location = folder.as_uri()
            return str(
                self.client.create_experiment(
                    name, artifact_location=location, tags={"recsys.tenant": tenant_id}
                )
            )
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)

    def _history(self, tenant_id: str) -> list[str]:
        model = self.client.get_registered_model(self.model_name(tenant_id))
        raw = (model.tags or {}).get(HISTORY_TAG)
        return [str(v) for v in json.loads(raw)] if raw else []

    def _set_history(self, tenant_id: str, history: list[str]) -> None:
        self.client.set_registered_model_tag(
            self.model_name(tenant_id), HISTORY_TAG, json.dumps(history[-50:])
        )

    def _info(self, mv: Any, aliases: Mapping[str, str]) -> ModelVersionInfo:
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                metrics = dict(self.client.get_run(mv.run_id).data.metrics)
            except Exception:  # a deleted run must not hide the version
                log.debug("run %s of %s/%s is gone", mv.run_id, mv.name, mv.version, exc_info=True)
        version = str(mv.version)
        return ModelVersionInfo(
            name=mv.name,
            version=version,
            aliases=tuple(sorted(a for a, v in aliases.items() if str(v) == version)),
            metrics=metrics,
            tags=dict(mv.tags or {}),
            run_id=mv.run_id,
            created_at_ms=int(mv.creation_timestamp or 0),
            source=str(mv.source or ""),
        )

    def _aliases(self, tenant_id: str) -> dict[str, str]:
        model = self.client.get_registered_model(self.model_name(tenant_id))
        return {str(k): str(v) for k, v in (model.aliases or {}).items()}

    # -- port -------------------------------------------------------------------------------
    def check(self) -> None:
        """GET ``/health`` of the tracking server (raises ``DependencyUnavailable``)."""
        import httpx

        if not self.tracking_uri.startswith(("http://", "https://")):
            return
        try:
            httpx.get(
                f"{self.tracking_uri.rstrip('/')}/health", timeout=self.timeout_seconds
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"MLflow at {self.tracking_uri} is not reachable: {exc}") from exc

    def ensure_registered_model(self, tenant_id: str) -> str:
        """Create experiment and registered model if missing (idempotent)."""
        from mlflow.exceptions import MlflowException

        name = self.model_name(tenant_id)
        self._experiment_id(tenant_id)
        try:
            self.client.create_registered_model(
                name, tags={"recsys.tenant": tenant_id}, description=f"recsys models of tenant {tenant_id}"
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        return name

    def delete_registered_model(self, tenant_id: str) -> None:
        """Delete registered model (with all versions) and soft-delete the experiment."""
        from mlflow.exceptions import MlflowException

        name = self.model_name(tenant_id)
        try:
            self.client.delete_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            return
        self._delete_artifacts(experiment)
        if experiment.lifecycle_stage != "deleted":
            self.client.delete_experiment(experiment.experiment_id)

    def _delete_artifacts(self, experiment: Any) -> None:
        """Delete every run (and its artifacts) and the experiment's artifact folder (logged
        models live there): the tracking store keeps only tombstones of deleted runs, so a
        tenant re-created with this id finds none of the old owner's models or files."""
        from mlflow.entities import ViewType
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        def wipe(uri: str | None) -> None:
            if not uri:
                return
            try:
                repository = get_artifact_repository(uri, tracking_uri=self.tracking_uri)
                repository.delete_artifacts()  # type: ignore[no-untyped-call]
            except FileNotFoundError:
                pass  # gone already

        page_token = None
        while True:
            runs = self.client.search_runs(
                [experiment.experiment_id],
                run_view_type=ViewType.ALL,
                max_results=1000,
                page_token=page_token,
            )
            for run in runs:
                wipe(run.info.artifact_uri)
                if run.info.lifecycle_stage != "deleted":
                    self.client.delete_run(run.info.run_id)
            page_token = runs.token
            if not page_token:
                break
        wipe(experiment.artifact_location)

    def register(
        self,
        tenant_id: str,
        artifact_dir: Path,
        metrics: Mapping[str, float],
        params: Mapping[str, str],
        lineage: Lineage,
    ) -> ModelVersionInfo:
        """Log run + pyfunc model (artifact dir as ``recsys_model``), register, alias ``challenger``.

        Uses MLflow's fluent API, which keeps the tracking URI process-global: call it from
        the pipeline's register step (its own process), not from request threads.
        """
        import mlflow

        from recsys_platform import __version__
        from recsys_platform.registry.pyfunc import ARTIFACT_KEY, RecsysPyfuncModel

        if not (Path(artifact_dir) / "manifest.json").is_file():
            raise NotFound(f"{artifact_dir} is not a model artifact (no manifest.json)")
        name = self.ensure_registered_model(tenant_id)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        experiment_id = self._experiment_id(tenant_id)
        version: str | None = None
        try:
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=f"train-{lineage.training_run_id}",
                tags=lineage.tags(),
            ) as run:
                mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
                with warnings.catch_warnings():
                    # the wrapper takes free-form rows on purpose: no type-hint signature
                    warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")
                    info = mlflow.pyfunc.log_model(
                        name="model",
                        python_model=RecsysPyfuncModel(),
                        artifacts={ARTIFACT_KEY: str(artifact_dir)},
                        registered_model_name=name,
                        pip_requirements=[f"recsys=={__version__}"],
                        tags=lineage.tags(),
                    )
                version = str(info.registered_model_version)
                for key, value in lineage.tags().items():
                    self.client.set_model_version_tag(name, version, key, value)
                self.client.set_model_version_tag(name, version, "recsys.mlflow_run_id", run.info.run_id)
                self.client.set_registered_model_alias(name, CHALLENGER, version)
            return self.get_version(tenant_id, version)
        except BaseException:
            if version is not None:
                log.warning("registering %s version %s failed half-way; deleting it", name, version)
                self.delete_version(tenant_id, version)
            raise

    def list_versions(self, tenant_id: str) -> list[ModelVersionInfo]:
        """All versions, newest first (at most 200)."""
        name = self.model_name(tenant_id)
        with self._errors(f"registered model {name!r}"):
            aliases = self._aliases(tenant_id)
            found = self.client.search_model_versions(f"name='{name}'", max_results=MAX_VERSIONS)
        infos = [self._info(mv, aliases) for mv in found]
        return sorted(infos, key=lambda i: int(i.version), reverse=True)

    def get_version(self, tenant_id: str, version: str) -> ModelVersionInfo:
        """One version; ``NotFound`` names the version."""
        name = self.model_name(tenant_id)
        if not str(version).isdigit():
            raise NotFound(
                f"model version {version!r} of {name}", [FieldError("version", "must be a number")]
            )
        with self._errors(f"version {version} of {name!r}"):
            mv = self.client.get_model_version(name, str(version))
            return self._info(mv, self._aliases(tenant_id))

    def get_champion(self, tenant_id: str) -> ModelVersionInfo | None:
        """The champion version, or ``None`` (also when the tenant has no registered model)."""
        try:
            aliases = self._aliases_or_empty(tenant_id)
        except NotFound:
            return None
        version = aliases.get(CHAMPION)
        return self.get_version(tenant_id, version) if version else None

    def _aliases_or_empty(self, tenant_id: str) -> dict[str, str]:
        with self._errors(f"registered model {self.model_name(tenant_id)!r}"):
            return self._aliases(tenant_id)

    def promote(self, tenant_id: str, version: str) -> ModelVersionInfo:
        """Set ``champion`` on ``version``; remember the order for :meth:`rollback`."""
        info = self.get_version(tenant_id, version)
        name = self.model_name(tenant_id)
        history = self._history(tenant_id)
        current = self._aliases(tenant_id).get(CHAMPION)
        if current == info.version:
            return info
        if current and (not history or history[-1] != current):
            history.append(current)
        history.append(info.version)
        self.client.set_registered_model_alias(name, CHAMPION, info.version)
        self._set_history(tenant_id, history)
        return self.get_version(tenant_id, info.version)

    def promote_if_better(
        self, tenant_id: str, version: str, evidence: GateEvidence, policy: GatePolicy
    ) -> GateDecision:
        """Gate ``version`` against the current champion; promote it when the gate passes.

        ``evidence`` holds the scores measured on one hold-out; if the champion changed since
        it was measured, the champion's logged ``ndcg_at_10`` is used (marked ``logged``).
        """
        self.get_version(tenant_id, version)  # NotFound before any alias moves
        champion = self.get_champion(tenant_id)
        evidence = evidence.against(
            champion.version if champion else None,
            champion.metrics.get(GATE_METRIC) if champion else None,
        )
        decision = decide(evidence, policy)
        if decision.promoted:
            self.promote(tenant_id, version)
        return decision

    def rollback(self, tenant_id: str) -> ModelVersionInfo:
        """Champion -> the champion before it (versions deleted since are skipped)."""
        name = self.model_name(tenant_id)
        with self._errors(f"registered model {name!r}"):
            history = self._history(tenant_id)
            current = self._aliases(tenant_id).get(CHAMPION)
        if current is None:
            raise Conflict(f"{name} has no champion to roll back", [FieldError("champion", "not set")])
        while history and history[-1] == current:
            history.pop()
        existing = {i.version for i in self.list_versions(tenant_id)}
        while history and history[-1] not in existing:
            history.pop()
        if not history:
            raise Conflict(
                f"{name} has no previous champion to roll back to",
                [FieldError("champion", "no previous version")],
            )
        target = history[-1]
        self.client.set_registered_model_alias(name, CHAMPION, target)
        self._set_history(tenant_id, history)
        log.info("rolled back champion of %s from %s to %s", name, current, target)
        return self.get_version(tenant_id, target)

    def set_version_tag(self, tenant_id: str, version: str, key: str, value: str) -> None:
        """Tag a version (``NotFound`` when it does not exist)."""
        name = self.model_name(tenant_id)
        with self._errors(f"version {version} of {name!r}"):
            self.client.set_model_version_tag(name, str(version), key, value[:5000])

    def delete_version(self, tenant_id: str, version: str) -> None:
        """Delete a version and its run (gone already is fine)."""
        from mlflow.exceptions import MlflowException

        name = self.model_name(tenant_id)
        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return
            raise
        self.client.delete_model_version(name, str(version))
        if mv.run_id:
            try:
                self.client.delete_run(mv.run_id)
            except MlflowException:
                log.debug("run %s already gone", mv.run_id)

    def download(self, tenant_id: str, ref: str, destination: Path) -> Path:
        """Download ``models:/<name>/<version>`` (or ``@alias``); return the ``manifest.json`` folder."""
        import mlflow.artifacts

        name = self.model_name(tenant_id)
        if str(ref).isdigit():
            version = self.get_version(tenant_id, str(ref)).version
        else:
            version = self._aliases_or_empty(tenant_id).get(str(ref), "")
            if not version:
                raise NotFound(
                    f"{name} has no version with alias {ref!r}", [FieldError("ref", "unknown alias")]
                )
        destination = Path(destination)
        if destination.exists():
            shutil.rmtree(destination)
        destination.mkdir(parents=True)
        with self._errors(f"version {version} of {name!r}"):
            # The storage URI (mlflow-artifacts:/...), not models:/..., which would resolve
            # against the process-global registry URI instead of ours.
            location = self.client.get_model_version_download_uri(name, version)
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=location,
                dst_path=str(destination),
                tracking_uri=self.tracking_uri,
            )
        return find_manifest_dir(Path(path))
