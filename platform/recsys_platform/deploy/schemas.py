"""API schemas of deployments: ``DeploymentCreate``, ``DeploymentUpdate``, ``DeploymentPublic``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from recsys_platform.deploy.ports import DEPLOYMENT_NAME_PATTERN

#: A Kubernetes quantity such as ``500m``, ``2``, ``1Gi``, ``512Mi``.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=20)]
DeploymentName = Annotated[str, StringConstraints(pattern=DEPLOYMENT_NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSelector(_Strict):
    """Which model version to serve: exactly one of ``alias``, ``version`` or ``uri``.

    ``alias`` and ``version`` name the tenant's own registered model; the platform resolves
    them. ``uri`` is for the platform admin only (a tenant key gets 403)."""

    alias: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")] | None = None
    """A registry alias (``champion``); the server follows the alias when it moves."""
    version: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")] | None = None
    """A registered version number (``"3"`` or ``3``), pinned."""
    uri: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    """Platform admin only: a model URI as is: a local artifact folder (local mode),
    ``models:/<prefix><this tenant>...``, or ``s3://``/``gs://``/``pvc://`` for KServe's storage
    initializer."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_number(cls, value: object) -> object:
        # ``{"version": 4}`` as well as ``{"version": "4"}``; bools are not numbers here
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSelector:
        given = [k for k in ("alias", "version", "uri") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of alias, version or uri (got {given or 'none'})")
        return self


class Bounds(_Strict):
    """CPU and memory quantities."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class ResourcesSpec(_Strict):
    """Container requests and limits of each model-server replica (KServe mode)."""

    requests: Bounds = Bounds()
    limits: Bounds = Bounds()


class _Scaling(_Strict):
    resources: ResourcesSpec = ResourcesSpec()
    """Requests and limits of each replica (KServe mode; local processes ignore them)."""
    min_replicas: int = Field(default=1, ge=0, le=100)
    """Fewest replicas (0 lets KServe scale to zero in serverless mode)."""
    max_replicas: int = Field(default=1, ge=1, le=100)
    """Most replicas."""
    canary_traffic_percent: int | None = Field(default=None, ge=0, le=100)
    """Share of traffic for the new revision during a rollout (KServe); unset = all traffic."""

    @model_validator(mode="after")
    def _replicas_ordered(self) -> _Scaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class DeploymentCreate(_Scaling):
    """``POST /v1/tenants/{t}/deployments``."""

    name: DeploymentName
    """Deployment name (also the served model name and the InferenceService name)."""
    model: ModelSelector = ModelSelector(alias="champion")
    """The model to serve; default: the ``champion`` alias."""


class DeploymentUpdate(_Scaling):
    """``PUT /v1/tenants/{t}/deployments/{name}``: roll out a new model or new settings."""

    model: ModelSelector = ModelSelector(alias="champion")
    """The model to serve."""


class DeploymentPatch(_Strict):
    """``PATCH /v1/tenants/{t}/deployments/{name}``: change only the fields given (JSON merge
    patch, RFC 7396: an absent field keeps its value, ``null`` clears an optional one)."""

    model: ModelSelector | None = None
    """The model to serve (absent: the one served now)."""
    resources: dict[str, Any] | None = None
    """Merged into the current requests and limits (``{"limits": {"cpu": "2"}}``)."""
    min_replicas: int | None = Field(default=None, ge=0, le=100)
    max_replicas: int | None = Field(default=None, ge=1, le=100)
    canary_traffic_percent: int | None = Field(default=None, ge=0, le=100)
    """``null`` sends all traffic to the new revision."""


class ModelPublic(BaseModel):
    alias: str | None = None
    version: str | None = None
    uri: str | None = None


class DeploymentPublic(BaseModel):
    """A deployment as the API shows it."""

    id: str
    tenant_id: str
    name: str
    mode: str
    status: str
    """``pending``, ``ready``, ``restarting``, ``failed`` or ``stopped``."""
    endpoint: str | None
    """Base URL of the model server (``{endpoint}/v1/models/{name}:predict``)."""
    predict_url: str | None
    model: ModelPublic
    resolved_version: str | None
    previous_version: str | None
    model_uri: str | None
    resources: ResourcesSpec
    min_replicas: int
    max_replicas: int
    canary_traffic_percent: int | None
    error: str | None
    """Why it failed, or what it waits for (KServe conditions)."""
    restarts: int = 0
    """Local mode: how often the supervisor restarted a crashed model server."""
    created_at: datetime
    updated_at: datetime


class DeploymentList(BaseModel):
    items: list[DeploymentPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
