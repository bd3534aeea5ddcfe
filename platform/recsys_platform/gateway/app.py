"""The gateway FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry

from recsys_platform import __version__
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.events.factory import build_event_log
from recsys_platform.events.log import EventLog
from recsys_platform.gateway.auth import GatewayAuth
from recsys_platform.gateway.deps import GatewayServices
from recsys_platform.gateway.ratelimit import LocalTokenBucket, RateLimiter, RedisTokenBucket
from recsys_platform.gateway.routes import events
from recsys_platform.observability.tracing import build_tracer_provider
from recsys_platform.settings import GatewaySettings
from recsys_platform.web.health import ReadinessCheck, health_router
from recsys_platform.web.middleware import (
    BodySizeLimitMiddleware,
    HttpMetrics,
    RequestContextMiddleware,
)
from recsys_platform.web.problems import install_problem_handlers

log = logging.getLogger(__name__)
SERVICE_NAME = "recsys-gateway"


def create_app(
    settings: GatewaySettings,
    *,
    event_log: EventLog | None = None,
    span_processors: list[SpanProcessor] | None = None,
) -> FastAPI:
    """Build the gateway. Clients are created in the lifespan, not at import."""
    registry = CollectorRegistry()
    tracer_provider = build_tracer_provider(
        settings.telemetry.service_name or SERVICE_NAME,
        settings.telemetry.otlp_endpoint,
        span_processors,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database.url, echo=settings.database.echo)
        log_ = event_log or build_event_log(settings.event_log, client_id=SERVICE_NAME)
        limiter: RateLimiter = (
            RedisTokenBucket(settings.redis_url) if settings.redis_url else LocalTokenBucket()
        )
        app.state.services = GatewayServices(
            settings=settings,
            auth=GatewayAuth(session_factory(engine), settings.key_cache_seconds),
            event_log=log_,
            limiter=limiter,
            topic_prefix=settings.event_log.kafka.topic_prefix,
        )
        checks = [ReadinessCheck("event_log", log_.check)]
        if isinstance(limiter, RedisTokenBucket):
            checks.append(ReadinessCheck("redis", limiter.check))
        app.state.readiness[:] = checks
        try:
            yield
        finally:
            if event_log is None:
                log_.close()
            limiter.close()
            engine.dispose()
            tracer_provider.shutdown()

    app = FastAPI(
        title="recsys gateway",
        version=__version__,
        description="Tenant-facing API: user events (and recommendations, once served).",
        lifespan=lifespan,
    )
    app.state.readiness = []
    install_problem_handlers(app)
    app.include_router(health_router(app.state.readiness, registry))
    app.include_router(events.router)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="healthz,readyz,metrics"
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(registry))
    return app
