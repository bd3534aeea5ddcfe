"""Which model a deployment serves: an alias or version of the tenant's own registered model,
resolved here, or (platform admin only) a URI as given.

A tenant never hands the platform a URI: it names a version or alias and the platform builds
the URI of *that tenant's* registered model. A raw URI is an operator's tool; even then a
``models:/`` URI must name the tenant's own registered model (:func:`check_raw_uri`).
MLflow is imported inside methods (3 s import; not on the CLI start-up path).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from recsys_platform.deploy.kserve import STORAGE_SCHEMES
from recsys_platform.errors import DependencyUnavailable, FieldError, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

#: The registered-model part of ``models:/<name>@<alias>`` / ``models:/<name>/<version>``.
_REGISTERED_NAME = re.compile(r"^models:/+(?P<name>[^/@]*)")
#: Schemes a raw URI may use: the registry, KServe's storage initializer, or a local folder.
_RAW_URI_SCHEMES = ("models:/", "file://", *STORAGE_SCHEMES)


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

    name_prefix: str
    """Registered models are named ``<name_prefix><tenant_id>``."""

    def resolve(self, tenant_id: str, ref: ModelRef) -> ResolvedModel:
        """Raises ``NotFound`` naming ``model.alias``/``model.version`` when it does not exist."""
        ...


def storage_uri_of(uri: str | None) -> str | None:
    """``uri`` if KServe's storage initializer can download it, else ``None``."""
    return uri if uri and uri.startswith(STORAGE_SCHEMES) else None


def check_raw_uri(tenant_id: str, uri: str, *, platform_admin: bool, name_prefix: str) -> None:
    """Refuse a raw ``model.uri`` unless the platform admin gives it, and refuse even the admin
    a ``models:/`` URI of another tenant's registered model. Errors name ``model.uri`` and never
    echo anything about the host (whether a path exists, what is in it)."""
    if not platform_admin:
        raise Forbidden(
            "model.uri: a tenant key cannot deploy a raw model URI; name a registered version "
            '({"model": {"version": "3"}}) or alias ({"model": {"alias": "champion"}}) of your own model',
            [FieldError("model.uri", "only the platform admin may give a raw URI")],
        )
    if "://" in uri and not uri.startswith(_RAW_URI_SCHEMES):
        raise InvalidInput(
            "model.uri: unsupported scheme; use models:/, file://, s3://, gs://, pvc:// or a local folder",
            [FieldError("model.uri", "unsupported scheme")],
        )
    match = _REGISTERED_NAME.match(uri)
    if match is not None and match["name"] != f"{name_prefix}{tenant_id}":
        raise InvalidInput(
            f"model.uri: names a registered model that is not tenant '{tenant_id}'s "
            f"({name_prefix}{tenant_id})",
            [FieldError("model.uri", "another tenant's registered model")],
        )


class UriOnlyResolver:
    """No model registry configured: only ``model.uri`` deployments work."""

    name_prefix = "recsys-"

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
        self.name_prefix = name_prefix

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
            log.warning("model registry error", extra={"tracking_uri": self._tracking_uri, "error": str(exc)})
            raise DependencyUnavailable("the model registry did not answer; retry later") from exc
        except OSError as exc:
            log.warning("model registry error", extra={"tracking_uri": self._tracking_uri, "error": str(exc)})
            raise DependencyUnavailable("the model registry did not answer; retry later") from exc
