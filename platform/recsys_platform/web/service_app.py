"""The FastAPI app every HTTP service shares: problem+json errors, health, metrics,
request ids, body size limit and OpenTelemetry server spans."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from recsys_platform import __version__
from recsys_platform.observability.tracing import build_tracer_provider
from recsys_platform.settings import TelemetrySettings
from recsys_platform.web.health import health_router
from recsys_platform.web.middleware import (
    BodySizeLimitMiddleware,
    HttpMetrics,
    RequestContextMiddleware,
)
from recsys_platform.web.nul_guard import NulByteGuardMiddleware
from recsys_platform.web.openapi import install_openapi, operation_id
from recsys_platform.web.openapi_errors import document_problem_responses
from recsys_platform.web.problems import install_problem_handlers

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_app(
    *,
    title: str,
    description: str,
    service_name: str,
    telemetry: TelemetrySettings,
    max_request_bytes: int,
    routers: Sequence[APIRouter],
    lifespan: Lifespan,
    span_processors: list[SpanProcessor] | None = None,
    error_statuses: Iterable[int] = (401, 403, 404, 413, 422, 503),
    write_error_statuses: Iterable[int] = (),
    security_description: str = "An API key.",
    openapi_tags: list[dict[str, Any]] | None = None,
    extra_schemas: Iterable[type[BaseModel]] = (),
    schema_fixes: Callable[[dict[str, Any]], None] | None = None,
) -> FastAPI:
    """Build an app; ``lifespan`` creates the service's clients and fills
    ``app.state.readiness`` with its dependency checks. ``error_statuses`` (every route of
    ``routers``) and ``write_error_statuses`` (POST/PUT/PATCH/DELETE) go into the OpenAPI
    document as problem+json responses; the remaining arguments describe the service there too
    (:mod:`recsys_platform.web.openapi`)."""
    registry = CollectorRegistry()
    tracer_provider = build_tracer_provider(
        telemetry.service_name or service_name, telemetry.otlp_endpoint, span_processors
    )

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with lifespan(app):
                yield
        finally:
            tracer_provider.shutdown()  # flushes spans still batched for OTLP

    app = FastAPI(
        title=title,
        version=__version__,
        description=description,
        lifespan=_lifespan,
        openapi_tags=openapi_tags,
        generate_unique_id_function=operation_id,
    )
    app.state.readiness = []
    app.state.metrics_registry = registry  # services add their own metrics to /metrics
    app.state.tracer_provider = tracer_provider  # and their own spans to the app's traces
    install_problem_handlers(app)
    app.include_router(health_router(app.state.readiness, registry))
    health_paths = {getattr(r, "path", None) for r in app.routes}
    for router in routers:
        app.include_router(router)
    install_openapi(
        app,
        security_description=security_description,
        extra_schemas=extra_schemas,
        schema_fixes=schema_fixes,
    )
    writes = set(write_error_statuses)
    document_problem_responses(
        app,
        error_statuses,
        dict.fromkeys(("POST", "PUT", "PATCH", "DELETE"), writes),
        skip_paths=health_paths,
    )
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="healthz,readyz,metrics",
        exclude_spans=["receive", "send"],  # one server span per request, not three
    )
    app.add_middleware(NulByteGuardMiddleware)  # inside the size limit: buffers capped bodies only
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_request_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(registry))
    return app
