"""Typed settings, one class per deployable.

Every deployable reads its own environment prefix (``RECSYS_CONTROL_PLANE_`` ...),
nested groups use ``__`` (``RECSYS_CONTROL_PLANE_DATABASE__URL``), and secrets can
come from files in a mounted Kubernetes secret directory. Nothing here runs at
import time: call :func:`load_control_plane_settings` from ``main()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from recsys_platform.deploy.settings import DeployerSettings
from recsys_platform.features.settings import FeatureStoreSettings

#: Where Kubernetes mounts secrets for our pods (one file per field).
DEFAULT_SECRETS_DIR = Path("/var/run/secrets/recsys")

#: Placeholder secrets shipped for development; refused in production.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "dev-admin-token", "dev-model-token-secret"})


def _refuse_placeholder_model_secret(environment: str, secret: SecretStr, prefix: str) -> None:
    if environment != "development" and secret.get_secret_value() in PLACEHOLDER_SECRETS:
        raise ValueError(
            "model_token_secret: a placeholder secret is not allowed outside development; "
            f"set RECSYS_{prefix}_MODEL_TOKEN_SECRET or mount it as a secret file"
        )


class DatabaseSettings(BaseModel):
    """Control-plane database."""

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///./var/recsys.db"
    """SQLAlchemy URL: ``sqlite:///path`` (embedded) or ``postgresql+psycopg://...``."""
    auto_migrate: bool = True
    """Run Alembic migrations to head on start-up (off in Kubernetes: a hook Job migrates)."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""


class KafkaSettings(BaseModel):
    """Apache Kafka, the event log in Kubernetes mode."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str | None = None
    """Comma-separated ``host:port`` list; unset means Kafka is not used (embedded mode)."""
    topic_prefix: str = "recsys"
    """Prefix of every per-tenant topic: ``<prefix>.<tenant>.<kind>``."""
    partitions: int = Field(default=3, ge=1, le=1024)
    """Partitions of each new per-tenant topic."""
    replication_factor: int = Field(default=1, ge=1, le=16)
    """Replication factor of each new per-tenant topic."""
    request_timeout_ms: int = Field(default=10_000, ge=100)
    """Timeout of admin requests to the brokers."""


class TelemetrySettings(BaseModel):
    """Logs, metrics and traces."""

    model_config = ConfigDict(extra="forbid")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Root log level."""
    log_json: bool = True
    """Structured JSON logs (one object per line); plain text when false."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (``http://collector:4318``); unset keeps traces in-process."""
    service_name: str | None = None
    """``service.name`` resource attribute; defaults to the deployable's name."""


class EventLogSettings(BaseModel):
    """Where user events are logged: Kafka (Kubernetes) or an embedded SQLite log."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "kafka"] = "sqlite"
    """``kafka`` needs ``kafka.bootstrap_servers``; ``sqlite`` is the embedded default."""
    sqlite_path: str = "./var/events.db"
    """File of the embedded log (shared by the gateway and the stream processor)."""
    kafka: KafkaSettings = KafkaSettings()
    """Kafka connection and topic naming (the control plane's must match)."""

    @model_validator(mode="after")
    def _kafka_configured(self) -> EventLogSettings:
        if self.backend == "kafka" and not self.kafka.bootstrap_servers:
            raise ValueError("event_log.kafka.bootstrap_servers is required when backend is kafka")
        return self


class MlflowSettings(BaseModel):
    """MLflow tracking server and model registry (one registered model per tenant)."""

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str = "sqlite:///./var/mlflow/mlflow.db"
    """``http://mlflow:5000`` (a server) or ``sqlite:///path`` (embedded, no server)."""
    artifact_root: str = "./var/mlflow/artifacts"
    """Where a non-server (``sqlite:``) tracking URI stores artifacts; a server uses its own."""
    registry_name_prefix: str = Field(default="recsys-", pattern=r"^[A-Za-z0-9_.-]*$")
    """Registered model and experiment name = prefix + tenant id (``recsys-acme``)."""
    promotion_margin: float = Field(default=0.005, ge=0.0, le=1.0)
    """A challenger becomes champion when its ndcg@10 beats the champion's by at least this."""
    provision: bool = True
    """Create/delete each tenant's experiment and registered model at onboarding/purge."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """Health-check timeout of the tracking server."""


class KfpSettings(BaseModel):
    """How training pipelines run: in-process with ``kfp.local`` or on Kubeflow Pipelines."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["local", "kubeflow"] = "local"
    """``local``: kfp.local SubprocessRunner on this machine; ``kubeflow``: submit with kfp.Client."""
    host: str | None = None
    """Kubeflow Pipelines API endpoint (``http://ml-pipeline.kubeflow:8888``); required for kubeflow."""
    namespace: str | None = None
    """Kubeflow profile namespace of the runs (multi-user installs)."""
    pipeline_root: str = "./var/kfp"
    """Local mode: folder of task outputs (a sub-folder per run, removed afterwards).
    Kubeflow mode: ``gs://``/``s3://``/``minio://`` root, or empty for the cluster default."""
    experiment: str = "recsys-training"
    """Kubeflow experiment the runs are filed under."""
    poll_seconds: float = Field(default=5.0, gt=0)
    """Kubeflow mode: how often a run's state is polled."""
    component_image: str | None = None
    """Kubeflow mode: the image every pipeline component runs in (``docker/pipelines.Dockerfile``;
    a registry mirror or a digest); unset: the compiled spec's default."""

    @model_validator(mode="after")
    def _host_for_kubeflow(self) -> KfpSettings:
        if self.mode == "kubeflow" and not self.host:
            raise ValueError("kfp.host is required when kfp.mode is kubeflow")
        return self


class TrainingSettings(BaseModel):
    """Training runs: the background worker and the schedule loop of the control plane."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Run the training worker and scheduler in this control plane."""
    work_dir: str = "./var/training"
    """Stage status files of running pipelines."""
    run_timeout_seconds: float = Field(default=3600.0, gt=0)
    """A run still going after this long is marked failed (Kubeflow mode; local runs are awaited)."""
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)
    """How often due training schedules are checked."""
    pipeline_database_url: str | None = None
    """Database URL the pipeline's load step uses; default: the control plane's own.
    Kubeflow mode: leave unset and give the pods ``RECSYS_CONTROL_PLANE_DATABASE__URL``."""


class ControlPlaneSettings(BaseSettings):
    """Settings of the control plane (tenant onboarding API)."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_CONTROL_PLANE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    environment: Literal["development", "production"] = "development"
    """``production`` refuses placeholder secrets."""
    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = Field(default=8000, ge=1, le=65535)
    """TCP port to bind."""
    admin_token: SecretStr = SecretStr("dev-admin-token")
    """Platform-admin bearer token (creates and deletes tenants)."""
    model_token_secret: SecretStr = SecretStr("dev-model-token-secret")
    """Platform secret from which each deployment's model-server token is derived (the gateway
    holds the same secret); a model server answers 401 to a request without its token."""
    redis_url: str | None = None
    """Redis whose pub/sub channel announces revoked and rotated keys, deleted tenants and quota
    changes to the gateways (the gateways' ``redis_url``); unset: gateways in other processes
    notice only after their ``key_cache_seconds``."""
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest request body accepted (a 10,000-item catalog batch fits)."""
    database: DatabaseSettings = DatabaseSettings()
    """Control-plane database."""
    event_log: EventLogSettings = EventLogSettings()
    """The event log whose per-tenant topics onboarding creates (Kafka or embedded SQLite)."""
    feature_store: FeatureStoreSettings = FeatureStoreSettings()
    """Feast: onboarding applies each tenant's project."""
    provision_feature_store: bool = True
    """Create and remove tenants' Feast projects (off for a control plane without Feast)."""
    stream_group_id: str = "recsys-stream"
    """The stream processor's consumer group, whose lag ``GET /v1/tenants/{id}/lag`` reports."""
    mlflow: MlflowSettings = MlflowSettings()
    """Model registry: per-tenant registered models, champion/challenger aliases."""
    kfp: KfpSettings = KfpSettings()
    """Where training pipelines run (kfp.local or Kubeflow Pipelines)."""
    training: TrainingSettings = TrainingSettings()
    """Training run worker and schedule loop."""
    deployer: DeployerSettings = DeployerSettings()
    """Where tenants' models are served: local model-server processes or KServe."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Logs, metrics, traces."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A mounted secret file is named after the field (``admin_token``); pydantic-settings
        # alone only looks for the prefixed name (``recsys_control_plane_admin_token``).
        by_field_name = SecretsSettingsSource(
            settings_cls, secrets_dir=getattr(file_secret_settings, "secrets_dir", None), env_prefix=""
        )
        return init_settings, env_settings, dotenv_settings, file_secret_settings, by_field_name

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ControlPlaneSettings:
        if self.environment != "development" and self.admin_token.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "admin_token: a placeholder secret is not allowed outside development; "
                "set RECSYS_CONTROL_PLANE_ADMIN_TOKEN or mount it as a secret file"
            )
        _refuse_placeholder_model_secret(self.environment, self.model_token_secret, "CONTROL_PLANE")
        return self


def _secrets_dir() -> Path | None:
    configured = os.environ.get("RECSYS_SECRETS_DIR")
    path = Path(configured) if configured else DEFAULT_SECRETS_DIR
    return path if path.is_dir() else None


def load_control_plane_settings(**overrides: Any) -> ControlPlaneSettings:
    """Read control-plane settings from the environment and mounted secrets."""
    return ControlPlaneSettings(_secrets_dir=_secrets_dir(), **overrides)


class GatewaySettings(BaseSettings):
    """Settings of the gateway (the hot path: events in, recommendations out)."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_GATEWAY_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = "development"
    """Deployment environment."""
    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = Field(default=8080, ge=1, le=65535)
    """TCP port to bind."""
    database: DatabaseSettings = DatabaseSettings(auto_migrate=False)
    """The control-plane database, read for API keys and quotas (never migrated from here)."""
    event_log: EventLogSettings = EventLogSettings()
    """Where accepted events go."""
    redis_url: str | None = None
    """Redis for rate limits shared by all gateway replicas; unset keeps them in-process."""
    model_token_secret: SecretStr = SecretStr("dev-model-token-secret")
    """The control plane's ``model_token_secret``: the gateway derives each deployment's
    model-server token from it and sends it with every call."""
    key_cache_seconds: float = Field(default=30.0, ge=0)
    """How long a resolved API key (and its tenant's quotas) is cached at most. Revocation,
    rotation, tenant deletion and quota changes drop the entry at once when announced (Redis
    pub/sub on ``redis_url``, or in-process in the embedded platform); this bounds an entry
    whose announcement was lost."""
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    """Largest request body accepted (1,000 events fit)."""
    append_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long an events call waits for the log to acknowledge before answering 503."""
    model_timeout_seconds: float = Field(default=0.15, gt=0)
    """Budget of one model-server call; past it the answer is the cached popularity list."""
    model_pool_size: int = Field(default=100, ge=1)
    """Keep-alive connections to model servers (all tenants share the pool)."""
    routing_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a tenant's deployments and running experiments are cached (start/stop of an
    experiment reaches the gateway within this time)."""
    fallback_size: int = Field(default=200, ge=1, le=1000)
    """Items kept in each tenant's cached popularity (fallback) list."""
    fallback_refresh_seconds: float = Field(default=60.0, gt=0)
    """How often a tenant's fallback list is refreshed in the background."""
    impression_queue_size: int = Field(default=10_000, ge=1)
    """Impressions waiting for the event log at most; responses never wait for the log, and an
    impression arriving at a full queue is dropped and counted (``outcome="dropped"``)."""
    bandit_refresh_seconds: float = Field(default=5.0, ge=0)
    """How often bandit policies, guardrail sets and new checkpoints are picked up (0 disables
    both stages: every tenant gets the ranker's list as is)."""
    mlflow: MlflowSettings = MlflowSettings()
    """Where bandit policy checkpoints are fetched from."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Logs, metrics, traces."""

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> GatewaySettings:
        _refuse_placeholder_model_secret(self.environment, self.model_token_secret, "GATEWAY")
        return self


def load_gateway_settings(**overrides: Any) -> GatewaySettings:
    """Read gateway settings from the environment and mounted secrets."""
    return GatewaySettings(_secrets_dir=_secrets_dir(), **overrides)


class StreamSettings(BaseSettings):
    """Settings of the stream processor (events -> features and offline store)."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_STREAM_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = "development"
    """Deployment environment."""
    database: DatabaseSettings = DatabaseSettings(auto_migrate=False)
    """The control-plane database, read for tenants and item categories."""
    event_log: EventLogSettings = EventLogSettings()
    """Where events are consumed from (and dead letters go)."""
    feature_store: FeatureStoreSettings = FeatureStoreSettings()
    """The online store of users' real-time features (Feast) and the offline store root."""
    group_id: str = "recsys-stream"
    """Consumer group; replicas share the partitions."""
    max_batch: int = Field(default=500, ge=1, le=10_000)
    """Most records processed per poll."""
    poll_timeout_seconds: float = Field(default=0.05, gt=0)
    """How long a poll waits for records."""
    retry_backoff_max_seconds: float = Field(default=5.0, gt=0)
    """Longest wait between retries of a failed write (the batch is kept, not committed)."""
    half_life_hours: dict[str, float] = {"news": 6.0, "ecommerce": 168.0, "video": 72.0}
    """How fast category affinities decay, per use case."""
    item_stats: bool = True
    """Keep the tenants' streaming item state (trending, co-visitation, sessions for session-kNN)
    beside the online rows of ``feature_store``; model servers read it per request."""
    attribution: bool = True
    """Join clicks to logged impressions (A/B results); consumes the impressions topics."""
    attribution_default_window_seconds: int = Field(default=1800, ge=1)
    """Attribution window for impressions of an unknown experiment (normally per experiment)."""
    bandit: bool = True
    """Join rewards to bandit decisions and learn the tenants' policies (run it on one replica)."""
    bandit_checkpoint_every: int = Field(default=200, ge=1)
    """Register a policy checkpoint in MLflow after this many newly learned decisions..."""
    bandit_checkpoint_seconds: float = Field(default=30.0, gt=0)
    """...or this long after the previous one, whichever comes first."""
    bandit_log_retention_days: float = Field(default=7.0, gt=0)
    """How long closed decisions and their rewards are kept for off-policy evaluation."""
    mlflow: MlflowSettings = MlflowSettings()
    """Where policy checkpoints are registered."""
    metrics_host: str = "127.0.0.1"
    """Interface of the health and metrics endpoint."""
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Port of ``/healthz``, ``/readyz`` and ``/metrics`` (0 disables it)."""
    telemetry: TelemetrySettings = TelemetrySettings()
    """Logs, metrics, traces."""


def load_stream_settings(**overrides: Any) -> StreamSettings:
    """Read stream-processor settings from the environment and mounted secrets."""
    return StreamSettings(_secrets_dir=_secrets_dir(), **overrides)
