"""The control-plane FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from recsys_platform.bandit.checkpoints import MlflowCheckpoints
from recsys_platform.bandit.service import PolicyEvaluator, PolicyService
from recsys_platform.catalog.service import CatalogService, NewItemsHook
from recsys_platform.control_plane.deps import ControlPlaneServices
from recsys_platform.control_plane.idempotency import IdempotencyMiddleware
from recsys_platform.control_plane.openapi import OPENAPI_TAGS, add_problems
from recsys_platform.control_plane.routes import (
    api_keys,
    catalog,
    deployments,
    experiments,
    guardrails,
    policies,
    tenants,
    users,
)
from recsys_platform.control_plane.routes import training as training_routes
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, database_check, session_factory
from recsys_platform.deploy.factory import build_deployment_service
from recsys_platform.deploy.provisioner import DeploymentsProvisioner
from recsys_platform.experiments.service import ExperimentService
from recsys_platform.guardrails.service import GuardrailService
from recsys_platform.privacy.erasure import ErasureRequests
from recsys_platform.provisioning.ports import Provisioner
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.tenancy.auth_changes import (
    AuthChangePublisher,
    FanOut,
    LocalAuthChanges,
    RedisAuthChanges,
)
from recsys_platform.tenancy.keys import ApiKeyService
from recsys_platform.tenancy.service import TenantService
from recsys_platform.web.health import ReadinessCheck
from recsys_platform.web.service_app import service_app

log = logging.getLogger(__name__)
SERVICE_NAME = "recsys-control-plane"


def build_provisioners(settings: ControlPlaneSettings) -> list[Provisioner]:
    """One adapter per backend a tenant gets resources in (MLflow and Kubernetes join later)."""
    provisioners: list[Provisioner] = []
    log_settings = settings.event_log
    if log_settings.backend == "kafka":
        from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner

        provisioners.append(KafkaTopicProvisioner(log_settings.kafka))
    else:
        from recsys_platform.events.sqlite_log import SqliteEventLog
        from recsys_platform.provisioning.log_topics import SqliteLogTopicProvisioner

        event_log = SqliteEventLog(log_settings.sqlite_path)
        provisioners.append(SqliteLogTopicProvisioner(event_log, log_settings.kafka.topic_prefix))
    if settings.provision_feature_store:
        from recsys_platform.provisioning.feast_project import FeastProvisioner

        provisioners.append(FeastProvisioner(settings.feature_store))
        from recsys_platform.provisioning.item_stats import ItemStatsProvisioner
        from recsys_platform.streaming.wiring import item_stats_for

        provisioners.append(ItemStatsProvisioner(item_stats_for(settings.feature_store)))
        from recsys_platform.provisioning.offline_store import OfflineStoreProvisioner

        provisioners.append(OfflineStoreProvisioner(settings.feature_store))
    if settings.mlflow.provision:
        from recsys_platform.provisioning.mlflow_registry import MlflowRegistryProvisioner

        provisioners.append(MlflowRegistryProvisioner(settings.mlflow))
    return provisioners


def _new_items_hook(provisioners: Sequence[Provisioner]) -> NewItemsHook | None:
    """Catalog imports tell the tenant's streaming state of new items (the ``fresh`` signal)
    through the item-state provisioner's store, when this control plane has one."""
    from recsys_platform.provisioning.item_stats import ItemStatsProvisioner

    for provisioner in provisioners:
        if isinstance(provisioner, ItemStatsProvisioner):
            return provisioner.add_items
    return None


def create_app(
    settings: ControlPlaneSettings,
    *,
    provisioners: Sequence[Provisioner] | None = None,
    span_processors: list[SpanProcessor] | None = None,
    auth_changes: LocalAuthChanges | None = None,
) -> FastAPI:
    """Build the app. Clients are created in the lifespan, not here and not at import.

    Key and tenant changes are announced to the gateways over Redis (``settings.redis_url``)
    and to ``auth_changes`` (a gateway in the same process).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database.url, echo=settings.database.echo)
        if settings.database.auto_migrate:
            migrate.upgrade(engine)
        sessions = session_factory(engine)
        app.state.sessions = sessions  # the Idempotency-Key middleware's records
        app.state.deployments = build_deployment_service(settings, sessions)
        active = list(provisioners) if provisioners is not None else build_provisioners(settings)
        if provisioners is None:  # a tenant purge undeploys the tenant's model servers
            active.append(DeploymentsProvisioner(app.state.deployments))
        publishers: list[AuthChangePublisher] = []
        redis_changes = RedisAuthChanges(settings.redis_url) if settings.redis_url else None
        if redis_changes is not None:
            publishers.append(redis_changes)
        if auth_changes is not None:
            publishers.append(auth_changes)
        changes = FanOut(publishers)
        app.state.services = ControlPlaneServices(
            settings=settings,
            tenants=TenantService(sessions, active, changes),
            keys=ApiKeyService(sessions, changes=changes),
            catalog=CatalogService(sessions, engine, _new_items_hook(active)),
        )
        app.state.experiments = ExperimentService(sessions)
        app.state.policies = PolicyService(sessions)
        app.state.policy_evaluator = PolicyEvaluator(
            sessions, MlflowCheckpoints(settings.mlflow.tracking_uri, settings.mlflow.registry_name_prefix)
        )
        app.state.guardrails = GuardrailService(sessions)
        app.state.erasures = ErasureRequests(sessions)
        app.state.deployments.restore_in_background()
        threading.Thread(
            target=app.state.services.tenants.upgrade_resources, name="upgrade-tenant-resources", daemon=True
        ).start()
        app.state.training = None
        if settings.training.enabled:
            from recsys_platform.training.wiring import build_training

            app.state.training = build_training(settings, sessions)
            app.state.training.start()
        app.state.readiness[:] = [
            ReadinessCheck("database", database_check(engine)),
            *(ReadinessCheck(p.name, p.check) for p in active),
        ]
        log.info(
            "control plane started",
            extra={"database": engine.url.render_as_string(), "provisioners": [p.name for p in active]},
        )
        try:
            yield
        finally:
            if app.state.training is not None:
                app.state.training.stop()
            app.state.deployments.close()
            if redis_changes is not None:
                redis_changes.close()
            if getattr(app.state, "event_log", None) is not None:
                app.state.event_log.close()
            if getattr(app.state, "user_features", None) is not None:
                app.state.user_features.close()
            for p in active:
                close = getattr(p, "close", None)
                if close is not None:
                    close()
            engine.dispose()

    app = service_app(
        title="recsys control plane",
        description="Tenant onboarding and operations: tenants, API keys, the catalog, training, "
        "model versions, deployments and experiments.",
        service_name=SERVICE_NAME,
        telemetry=settings.telemetry,
        max_request_bytes=settings.max_request_bytes,
        routers=[
            tenants.router,
            api_keys.router,
            catalog.router,
            experiments.router,
            deployments.router,
            training_routes.router,
            policies.router,
            guardrails.router,
            users.router,
        ],
        lifespan=lifespan,
        span_processors=span_processors,
        write_error_statuses=(409,),
        security_description="The platform admin token, or a tenant API key with the `admin` scope "
        "(tenant routes only).",
        openapi_tags=OPENAPI_TAGS,
        schema_fixes=add_problems,
    )
    app.add_middleware(IdempotencyMiddleware, max_bytes=settings.max_request_bytes)
    return app
