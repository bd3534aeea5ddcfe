"""The deployer port: serve a model version behind an endpoint, report, stop.

Both adapters (local processes, KServe) take the same :class:`DeploymentSpec` and
answer with the same :class:`DeploymentStatus`; nothing above them knows the mode.
The served model name is always the deployment name, so a client calls
``{endpoint}/v1/models/{name}:predict`` (see :func:`predict_url`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: Deployment names become Kubernetes object names and model names (RFC 1035 label).
DEPLOYMENT_NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,43}[a-z0-9])?$"
_NAME = re.compile(DEPLOYMENT_NAME_PATTERN)

State = Literal["pending", "ready", "restarting", "failed", "stopped"]


@dataclass(frozen=True)
class ResourceBounds:
    """CPU and memory as Kubernetes quantities (``"500m"``, ``"1Gi"``); ``None`` leaves it unset."""

    cpu: str | None = None
    memory: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


@dataclass(frozen=True)
class DeploymentSpec:
    """What to serve and how big.

    ``model_uri`` is what the model server loads itself (``models:/recsys-acme@champion``,
    ``models:/recsys-acme/3`` or a local artifact folder). ``storage_uri``, when set, is a
    location KServe's storage initializer can fetch (``s3://``, ``gs://``, ``pvc://``...);
    the model server then loads the downloaded copy instead.
    """

    tenant_id: str
    name: str
    model_uri: str
    model_version: str | None = None
    storage_uri: str | None = None
    requests: ResourceBounds = ResourceBounds()
    limits: ResourceBounds = ResourceBounds()
    min_replicas: int = 1
    max_replicas: int = 1
    canary_traffic_percent: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"name: '{self.name}' must match {DEPLOYMENT_NAME_PATTERN}")
        if not self.model_uri:
            raise ValueError("model_uri: must not be empty")
        if self.min_replicas < 0 or self.max_replicas < 1 or self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas/max_replicas: need 0 <= min_replicas <= max_replicas, max >= 1")
        pct = self.canary_traffic_percent
        if pct is not None and not 0 <= pct <= 100:
            raise ValueError("canary_traffic_percent: must be between 0 and 100")


@dataclass(frozen=True)
class DeploymentStatus:
    """What a deployer knows about one deployment right now."""

    tenant_id: str
    name: str
    state: State
    endpoint: str | None = None
    model_version: str | None = None
    message: str | None = None
    restarts: int = 0
    detail: str | None = None
    """What the platform operator may read beside ``message`` (a model server's log tail, host
    paths); never shown to a tenant."""


class Deployer(Protocol):
    """Runs model servers for deployments; one adapter per serving mode."""

    mode: str

    def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Create or replace the deployment; local mode returns once ready (or failed)."""
        ...

    def status(self, tenant_id: str, name: str) -> DeploymentStatus:
        """The current state; ``stopped`` when the deployer knows nothing about it."""
        ...

    def undeploy(self, tenant_id: str, name: str) -> None:
        """Stop serving and remove the deployment (no error if it is already gone)."""
        ...

    def list(self, tenant_id: str) -> list[DeploymentStatus]:
        """Every deployment of a tenant the deployer currently runs."""
        ...

    def close(self) -> None:
        """Release clients; the local deployer stops its processes."""
        ...


def predict_url(endpoint: str, name: str) -> str:
    """The KServe V1 predict URL of a deployment's model."""
    return f"{endpoint.rstrip('/')}/v1/models/{name}:predict"
