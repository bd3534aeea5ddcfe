"""Which model a deployment serves: an MLflow alias or version, or a URI as given.

MLflow is imported inside methods (3 s import; not on the CLI start-up path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from recsys_platform.deploy.kserve import STORAGE_SCHEMES
from recsys_platform.errors import DependencyUnavailable, FieldError, InvalidInput, NotFound


@dataclass(frozen=True)
class ModelRef:
    """Exactly one of ``alias``, ``version`` or ``uri``."""

    alias: str | None = None
    version: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class ResolvedModel:
    """``model_uri`` for the model server; ``storage_uri`` when KServe can fetch the files itself."""

    model_uri: str
    version: str | None = None
    storage_uri: str | None = None


class ModelResolver(Protocol):
    """Turns a tenant's model reference into what a model server loads."""

    def resolve(self, tenant_id: str, ref: ModelRef) -> ResolvedModel:
        """Raises ``NotFound`` naming ``model.alias``/``model.version`` when it does not exist."""
        ...


def storage_uri_of(uri: str | None) -> str | None:
    """``uri`` if KServe's storage initializer can download it, else ``None``."""
    return uri if uri and uri.startswith(STORAGE_SCHEMES) else None


class UriOnlyResolver:
    """No model registry configured: only ``model.uri`` deployments work."""

    def resolve(self, tenant_id: str, ref: ModelRef) -> ResolvedModel:
        if ref.uri:
            return ResolvedModel(ref.uri, None, storage_uri_of(ref.uri))
        field = "model.alias" if ref.alias else "model.version"
        raise InvalidInput(
            f"{field}: no model registry is configured on this control plane; deploy by model.uri",
            [FieldError(field, "no model registry configured")],
        )


class MlflowModelResolver:
    """Resolves against the MLflow registry; the registered model is ``<prefix><tenant>``."""

    def __init__(self, tracking_uri: str, name_prefix: str = "recsys-") -> None:
        self._tracking_uri = tracking_uri
        self._prefix = name_prefix

    def registered_name(self, tenant_id: str) -> str:
        return f"{self._prefix}{tenant_id}"

    def resolve(self, tenant_id: str, ref: ModelRef) -> ResolvedModel:
        if ref.uri:
            return ResolvedModel(ref.uri, None, storage_uri_of(ref.uri))
        from mlflow.exceptions import MlflowException

        from recsys_platform.registry.mlflow_registry import MlflowModelRegistry

        name = self.registered_name(tenant_id)
        # the training side's client: it keeps MLflow's plugin loading from importing Feast
        client = MlflowModelRegistry(self._tracking_uri, self._prefix).client
        field = "model.alias" if ref.alias else "model.version"
        try:
            if ref.alias:
                mv: Any = client.get_model_version_by_alias(name, ref.alias)
                model_uri = f"models:/{name}@{ref.alias}"
                # an alias follows the registry (the server re-resolves it): no pinned files
                return ResolvedModel(model_uri, str(mv.version), None)
            mv = client.get_model_version(name, str(ref.version))
            download = client.get_model_version_download_uri(name, str(mv.version))
            return ResolvedModel(f"models:/{name}/{mv.version}", str(mv.version), storage_uri_of(download))
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
                what = f"alias '{ref.alias}'" if ref.alias else f"version '{ref.version}'"
                raise NotFound(
                    f"{field}: registered model '{name}' has no {what}", [FieldError(field, "not registered")]
                ) from exc
            raise DependencyUnavailable(f"MLflow registry at {self._tracking_uri}: {exc}") from exc
        except OSError as exc:
            raise DependencyUnavailable(f"MLflow registry at {self._tracking_uri}: {exc}") from exc
