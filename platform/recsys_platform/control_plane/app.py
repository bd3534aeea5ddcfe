"""The control-plane FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from recsys_platform import __version__
from recsys_platform.catalog.service import CatalogService
from recsys_platform.control_plane.deps import ControlPlaneServices
from recsys_platform.control_plane.routes import api_keys, catalog, tenants
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.observability.tracing import build_tracer_provider
from recsys_platform.provisioning.ports import Provisioner
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.tenancy.keys import ApiKeyService
from recsys_platform.tenancy.service import TenantService
from recsys_platform.web.health import ReadinessCheck, health_router
from recsys_platform.web.middleware import (
    BodySizeLimitMiddleware,
    HttpMetrics,
    RequestContextMiddleware,
)
from recsys_platform.web.problems import install_problem_handlers

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

        log = SqliteEventLog(log_settings.sqlite_path)
        provisioners.append(SqliteLogTopicProvisioner(log, log_settings.kafka.topic_prefix))
    if settings.provision_feature_store:
        from recsys_platform.provisioning.feast_project import FeastProvisioner

        provisioners.append(FeastProvisioner(settings.feature_store))
    return provisioners


def create_app(
    settings: ControlPlaneSettings,
    *,
    provisioners: Sequence[Provisioner] | None = None,
    span_processors: list[SpanProcessor] | None = None,
) -> FastAPI:
    """Build the app. Clients are created in the lifespan, not here and not at import."""
    registry = CollectorRegistry()
    tracer_provider = build_tracer_provider(
        settings.telemetry.service_name or SERVICE_NAME,
        settings.telemetry.otlp_endpoint,
        span_processors,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database.url, echo=settings.database.echo)
        if settings.database.auto_migrate:
            migrate.upgrade(engine)
        sessions = session_factory(engine)
        active = list(provisioners) if provisioners is not None else build_provisioners(settings)
        app.state.services = ControlPlaneServices(
            settings=settings,
            tenants=TenantService(sessions, active),
            keys=ApiKeyService(sessions),
            catalog=CatalogService(sessions, engine),
        )

        def database_ready() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        app.state.readiness[:] = [
            ReadinessCheck("database", database_ready),
            *(ReadinessCheck(p.name, p.check) for p in active),
        ]
        log.info(
            "control plane started",
            extra={"database": engine.url.render_as_string(), "provisioners": [p.name for p in active]},
        )
        try:
            yield
        finally:
            for p in active:
                close = getattr(p, "close", None)
                if close is not None:
                    close()
            engine.dispose()
            tracer_provider.shutdown()

    app = FastAPI(
        title="recsys control plane",
        version=__version__,
        description="Tenant onboarding: tenants, API keys, catalog schema and item import.",
        lifespan=lifespan,
    )
    app.state.readiness = []
    install_problem_handlers(app)
    app.include_router(health_router(app.state.readiness, registry))
    app.include_router(tenants.router)
    app.include_router(api_keys.router)
    app.include_router(catalog.router)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="healthz,readyz,metrics"
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(registry))
    return app
