"""Build the deployer, the model resolver and the model servers' environment from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys_platform.deploy.ports import Deployer
from recsys_platform.deploy.resolver import MlflowModelResolver, ModelResolver, UriOnlyResolver

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from recsys_platform.deploy.service import DeploymentService
    from recsys_platform.settings import ControlPlaneSettings

MODEL_SERVER_PREFIX = "RECSYS_MODEL_SERVER_"


def build_deployer(settings: ControlPlaneSettings) -> Deployer:
    """The adapter of ``settings.deployer.mode``."""
    if settings.deployer.mode == "kserve":
        from recsys_platform.deploy.kserve import KServeDeployer

        return KServeDeployer(settings.deployer)
    from recsys_platform.deploy.local import LocalProcessDeployer

    return LocalProcessDeployer(settings.deployer)


def mlflow_tracking_uri(settings: ControlPlaneSettings) -> str | None:
    """The registry the control plane uses (``settings.mlflow.tracking_uri``), if configured."""
    return settings.mlflow.tracking_uri or None


def registered_model_prefix(settings: ControlPlaneSettings) -> str:
    """Registered model name = prefix + tenant id (the training side's naming)."""
    return settings.mlflow.registry_name_prefix


def build_resolver(settings: ControlPlaneSettings) -> ModelResolver:
    """MLflow when a tracking URI is configured, else URIs only."""
    uri = mlflow_tracking_uri(settings)
    if uri:
        return MlflowModelResolver(uri, registered_model_prefix(settings))
    return UriOnlyResolver()


def model_server_env(settings: ControlPlaneSettings) -> dict[str, str]:
    """Environment a model server needs from the control plane's own settings.

    Local mode: the same feature store (so the server reads the users' real-time rows)
    and the MLflow registry. KServe mode: only the MLflow URI; the ServingRuntime in the
    tenant namespace carries the feature-store settings and secrets.
    """
    env: dict[str, str] = {}
    tracking = mlflow_tracking_uri(settings)
    if tracking:
        env["MLFLOW_TRACKING_URI"] = tracking
        env[f"{MODEL_SERVER_PREFIX}TRACKING_URI"] = tracking
    if settings.deployer.mode == "local":
        for key, value in settings.feature_store.model_dump(mode="json").items():
            if value is not None:
                env[f"{MODEL_SERVER_PREFIX}FEATURE_STORE__{key.upper()}"] = str(value)
        telemetry = settings.telemetry
        env[f"{MODEL_SERVER_PREFIX}TELEMETRY__LOG_LEVEL"] = telemetry.log_level
        if telemetry.otlp_endpoint:
            env[f"{MODEL_SERVER_PREFIX}TELEMETRY__OTLP_ENDPOINT"] = telemetry.otlp_endpoint
    return env


def build_deployment_service(
    settings: ControlPlaneSettings, sessions: sessionmaker[Session]
) -> DeploymentService:
    """The deployments service of a control plane, with the adapters its settings name."""
    from recsys_platform.deploy.service import DeploymentService

    return DeploymentService(
        sessions,
        build_deployer(settings),
        build_resolver(settings),
        env=model_server_env(settings),
        restore_on_start=settings.deployer.restore_on_start,
        token_secret=settings.model_token_secret.get_secret_value(),
    )
