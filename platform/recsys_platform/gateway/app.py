"""The gateway FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.events.factory import build_event_log
from recsys_platform.events.log import EventLog
from recsys_platform.events.schemas import Event
from recsys_platform.gateway.auth import GatewayAuth
from recsys_platform.gateway.deps import GatewayServices
from recsys_platform.gateway.ratelimit import LocalTokenBucket, RateLimiter, RedisTokenBucket
from recsys_platform.gateway.routes import batch, events, recommendations, rerank
from recsys_platform.gateway.routes.events import EventBatchProblem
from recsys_platform.gateway.serving import build_recommendation_services
from recsys_platform.settings import GatewaySettings
from recsys_platform.tenancy.auth_changes import LocalAuthChanges, RedisAuthChanges
from recsys_platform.web.health import ReadinessCheck
from recsys_platform.web.service_app import service_app

SERVICE_NAME = "recsys-gateway"


def create_app(
    settings: GatewaySettings,
    *,
    event_log: EventLog | None = None,
    span_processors: list[SpanProcessor] | None = None,
    auth_changes: LocalAuthChanges | None = None,
) -> FastAPI:
    """Build the gateway. Clients are created in the lifespan, not at import.

    Cached keys are dropped when the control plane announces a change: over Redis pub/sub
    when ``settings.redis_url`` is set, and through ``auth_changes`` when the control plane
    runs in the same process (the embedded platform).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings.database.url, echo=settings.database.echo)
        log = event_log or build_event_log(settings.event_log, client_id=SERVICE_NAME)
        limiter: RateLimiter = (
            RedisTokenBucket(settings.redis_url) if settings.redis_url else LocalTokenBucket()
        )
        sessions = session_factory(engine)
        auth = GatewayAuth(sessions, settings.key_cache_seconds)
        listener = RedisAuthChanges(settings.redis_url) if settings.redis_url else None
        if listener is not None:
            listener.listen(auth.on_change)
        unsubscribe = auth_changes.subscribe(auth.on_change) if auth_changes is not None else None
        app.state.auth_changes_listener = listener
        app.state.services = GatewayServices(
            settings=settings,
            auth=auth,
            event_log=log,
            limiter=limiter,
            topic_prefix=settings.event_log.kafka.topic_prefix,
        )
        app.state.recommend = build_recommendation_services(
            settings, sessions, log, app.state.metrics_registry, app.state.tracer_provider
        )
        checks = [ReadinessCheck("event_log", log.check)]
        if isinstance(limiter, RedisTokenBucket):
            checks.append(ReadinessCheck("redis", limiter.check))
        app.state.readiness[:] = checks
        try:
            yield
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if listener is not None:
                listener.close()
            await app.state.recommend.close()
            if event_log is None:
                log.close()
            await limiter.close()
            engine.dispose()

    return service_app(
        title="recsys gateway",
        description="Tenant-facing API: recommendations, re-ranking and user events.",
        service_name=SERVICE_NAME,
        telemetry=settings.telemetry,
        max_request_bytes=settings.max_request_bytes,
        routers=[events.router, batch.router, recommendations.router, rerank.router],
        lifespan=lifespan,
        span_processors=span_processors,
        error_statuses=(401, 403, 404, 413, 422, 429, 503),
        security_description="A tenant API key (`rk_...`) with the scope the operation names.",
        openapi_tags=OPENAPI_TAGS,
        extra_schemas=[Event, EventBatchProblem],
        schema_fixes=_event_items,
    )


OPENAPI_TAGS = [
    {"name": "events", "description": "User events (clicks, views, purchases, ...); scope `events:write`."},
    {
        "name": "recommendations",
        "description": "Lists for a user, re-ranking, similar items; scope `recommendations:read`.",
    },
]


def _event_items(doc: dict[str, Any]) -> None:
    """``EventBatch.events`` is validated one event at a time (a bad event is reported, the
    good ones kept), so the model says ``list[Any]``; the document names what each must be."""
    events = doc["components"]["schemas"]["EventBatch"]["properties"]["events"]
    events["items"] = {"$ref": "#/components/schemas/Event"}
