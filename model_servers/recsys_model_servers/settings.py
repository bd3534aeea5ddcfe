"""Settings of the model server (one process serves one deployment of one tenant's model).

Environment prefix ``RECSYS_MODEL_SERVER_``, nested groups with ``__``
(``RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL``). Command-line flags of
``python -m recsys_model_servers`` override the environment. Nothing here runs at import time.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.settings import TelemetrySettings

#: ``service.name`` of logs and traces unless ``telemetry.service_name`` is set.
SERVICE_NAME = "recsys-model-server"
#: ``models:/<registered name>@<alias>`` or ``models:/<registered name>/<version>``.
REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class RerankSettings(BaseModel):
    """Defaults of the re-ranking stage applied after the model's candidates."""

    model_config = ConfigDict(extra="forbid")

    exclude_seen: bool = True
    """Leave out every item the user interacted with (whole online history, any event type);
    false for catalogs whose users repeat (news re-reads, re-purchases). A request's
    ``filters.exclude_seen`` overrides it."""
    exclude_unavailable: bool = True
    """Never return items whose catalog record says ``available: false``."""
    diversity: Literal["none", "mmr"] = "none"
    """``none`` keeps the model's order (what training optimised and the quality benchmarks
    measure); ``mmr``: maximal marginal relevance over item categories, trading accuracy for
    variety (opt in per deployment)."""
    mmr_lambda: float = Field(default=0.9, ge=0.0, le=1.0)
    """Relevance weight of MMR (1.0 = relevance only, lower = more diverse)."""
    max_per_category: int | None = Field(default=None, ge=1)
    """At most this many items of one category before items of other categories; unset = no cap."""
    freshness_weight: float = Field(default=0.0, ge=0.0, le=10.0)
    """Boost of a brand-new item, added to its relevance in [0, 1]; decays with the item's age."""
    freshness_half_life_hours: float = Field(default=48.0, gt=0.0)
    """Age at which the freshness boost has halved."""


class ModelServerSettings(BaseSettings):
    """Settings of one model-server process."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_MODEL_SERVER_",
        env_nested_delimiter="__",
        extra="forbid",
        protected_namespaces=(),
    )

    environment: Literal["development", "production"] = "development"
    """Deployment environment."""
    tenant_id: str | None = None
    """Tenant whose users are served; required to read online features."""
    name: str = Field(default="recsys", min_length=1, max_length=253)
    """Deployment name; the model name served (``/v1/models/<name>:predict``)."""
    model_uri: str = Field(min_length=1)
    """``models:/recsys-<tenant>@champion``, ``models:/recsys-<tenant>/3`` or a local artifact folder."""
    tracking_uri: str | None = None
    """MLflow tracking server; unset uses ``MLFLOW_TRACKING_URI`` (only for ``models:/`` URIs)."""
    alias_poll_seconds: float = Field(default=30.0, ge=0.0)
    """How often an alias URI is re-resolved; a moved alias hot-swaps the model. 0 = never."""
    host: str = "127.0.0.1"
    """Interface the REST server binds: loopback (the embedded platform's local processes);
    the KServe manifest sets ``0.0.0.0`` inside the pod."""
    auth_token: SecretStr | None = None
    """The deployment's token (set by the platform): every request but the health and metrics
    probes must carry it in ``X-Recsys-Model-Token`` or gets 401. Unset: no check (a model
    server started by hand); required outside development."""
    http_port: int = Field(default=8080, ge=0, le=65535)
    """REST port (KServe V1 and V2)."""
    grpc_port: int = Field(default=8081, ge=0, le=65535)
    """gRPC port (V2), used only when ``enable_grpc``."""
    enable_grpc: bool = False
    """Also serve the V2 gRPC protocol."""
    online_features: bool = True
    """Read the user's real-time row from the online store on each user request."""
    feature_store: FeatureStoreSettings = FeatureStoreSettings()
    """Feast online store holding users' real-time state (one read per request)."""
    stream_signals: bool = True
    """Read the tenant's streaming item state (beside the online rows) when the model blends it
    (``stream_weights``): session-kNN, co-visitation, trending, on event time."""
    candidate_pool: int = Field(default=100, ge=1, le=10_000)
    """Candidates asked from the model before re-ranking (grown when filters remove too many)."""
    max_n: int = Field(default=200, ge=1, le=1000)
    """Largest ``n`` a request may ask for."""
    predict_threads: int = Field(default=4, ge=1, le=64)
    """Requests computed at once (a thread pool beside KServe's event loop): the online-store read
    and numpy/FAISS work of one request overlap with others instead of queueing behind them."""
    rerank: RerankSettings = RerankSettings()
    """Re-ranking defaults (filters, diversity, freshness)."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Logs and traces."""

    @field_validator("model_uri")
    @classmethod
    def _known_uri(cls, value: str) -> str:
        if value.startswith("models:/") and not REGISTRY_URI.match(value):
            raise ValueError("must be models:/<name>@<alias>, models:/<name>/<version> or a local folder")
        if "://" in value and not value.startswith("file://"):
            raise ValueError("only models:/ registry URIs, file:// URIs and local folders are supported")
        return value

    @model_validator(mode="after")
    def _token_outside_development(self) -> ModelServerSettings:
        if self.environment != "development" and not (self.auth_token and self.auth_token.get_secret_value()):
            raise ValueError("auth_token: required outside development (RECSYS_MODEL_SERVER_AUTH_TOKEN)")
        return self

    @model_validator(mode="after")
    def _tenant_for_features(self) -> ModelServerSettings:
        if self.online_features and not self.tenant_id:
            raise ValueError("tenant_id is required when online_features is on")
        if self.tenant_id is not None:
            from recsys_platform.features.feast_repo import project_name

            try:
                project_name(self.tenant_id)
            except ValueError as exc:
                raise ValueError(f"tenant_id: {exc}") from None
        return self


def load_model_server_settings(**overrides: Any) -> ModelServerSettings:
    """Read settings from the environment; ``overrides`` (command-line flags) win."""
    return ModelServerSettings(**overrides)
