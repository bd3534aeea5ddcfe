"""Settings of the deployer: where model servers run (local processes or KServe)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DeployerSettings(BaseModel):
    """How the control plane serves tenants' models.

    ``local`` starts one model-server process per deployment on this machine (embedded
    mode); ``kserve`` creates one KServe ``InferenceService`` per deployment in the
    tenant's namespace through the Kubernetes API.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["local", "kserve"] = "local"
    """``local`` (model-server subprocesses) or ``kserve`` (InferenceServices)."""

    # -- local processes -------------------------------------------------------------------
    work_dir: str = "./var/deployments"
    """Local mode: folder of one log file per deployment (``<tenant>/<name>.log``)."""
    host: str = "127.0.0.1"
    """Local mode: interface the model servers bind and the endpoint host."""
    python: str | None = None
    """Local mode: Python interpreter that runs ``-m recsys_model_servers`` (default: this one)."""
    ready_timeout_seconds: float = Field(default=120.0, gt=0)
    """Local mode: how long a new model server may take to report ready."""
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    """Local mode: first wait before restarting a crashed model server (doubles per crash)."""
    restart_backoff_max_seconds: float = Field(default=30.0, gt=0)
    """Local mode: longest wait between restarts."""
    supervise_interval_seconds: float = Field(default=0.5, gt=0)
    """Local mode: how often the supervisor checks the processes."""
    restore_on_start: bool = True
    """Local mode: on start-up, start again the deployments recorded as ready."""
    env: dict[str, str] = {}
    """Extra environment of every model server (``RECSYS_MODEL_SERVER_...`` settings)."""

    # -- KServe ----------------------------------------------------------------------------
    kubeconfig: str | None = None
    """KServe mode: kubeconfig file; unset uses the in-cluster service account (or ``~/.kube/config``
    outside a cluster)."""
    context: str | None = None
    """KServe mode: kubeconfig context; unset uses the current context."""
    namespace_template: str = "recsys-{tenant}"
    """KServe mode: tenant namespace (the Helm chart creates ``recsys-<tenant>``)."""
    runtime: str = "recsys-model-server"
    """KServe mode: name of the (Cluster)ServingRuntime that serves model format ``recsys``."""
    service_account_name: str | None = None
    """KServe mode: service account of the predictor pods (e.g. with object-storage access)."""
    annotations: dict[str, str] = {}
    """KServe mode: extra InferenceService annotations (e.g. ``serving.kserve.io/deploymentMode``)."""
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    """KServe mode: timeout of each Kubernetes API call."""
    network_policy: bool = True
    """KServe mode: before the first InferenceService in a tenant namespace, create the
    NetworkPolicy that admits only the gateway's pods (so tenants onboarded through the API are
    covered, not only the chart's ``values.tenants``). A deployment whose policy cannot be created
    is refused. Off only where another controller owns the tenant namespaces' policies."""
    gateway_namespace: str = "recsys"
    """KServe mode: namespace of the gateway pods the NetworkPolicy admits (the Helm release's)."""
    gateway_pod_labels: dict[str, str] = {"app.kubernetes.io/component": "gateway"}
    """KServe mode: labels of the gateway pods the NetworkPolicy admits."""

    @field_validator("namespace_template")
    @classmethod
    def _one_tenant_placeholder(cls, value: str) -> str:
        if "{tenant}" not in value or re.sub(r"\{tenant\}", "", value).count("{"):
            raise ValueError("must contain '{tenant}' and no other placeholder")
        return value

    def namespace(self, tenant_id: str) -> str:
        """The Kubernetes namespace of a tenant's InferenceServices."""
        return self.namespace_template.replace("{tenant}", tenant_id)
