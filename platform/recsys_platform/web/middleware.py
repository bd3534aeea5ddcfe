"""ASGI middleware: request id, access log + Prometheus metrics, body size limit."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys_platform.errors import PayloadTooLarge
from recsys_platform.observability.logging import bind_request_context, bind_trace, reset_request_context

log = logging.getLogger("recsys.access")


class HttpMetrics:
    """Request counters and latency histograms in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "recsys_http_requests_total",
            "HTTP requests by route template, method, status and tenant (empty when the request "
            "failed or named no tenant: the label stays bounded by the tenants that exist).",
            ["method", "route", "status", "tenant"],
            registry=registry,
        )
        self.latency = Histogram(
            "recsys_http_request_duration_seconds",
            "HTTP request latency by route template, method and tenant.",
            ["method", "route", "tenant"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=registry,
        )


class RequestContextMiddleware:
    """Assigns a request id, times the request, logs it and records metrics.

    Pure ASGI (not ``BaseHTTPMiddleware``) to keep the hot path cheap and
    context variables visible to the route.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        ctx, token = bind_request_context(request_id)
        # the instrumentation's server span wraps this middleware: its ids go on every line
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            bind_trace(span_context.trace_id, span_context.span_id)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope.get("method", "")
            # only answered requests name their tenant: a caller cannot invent label values
            tenant = (ctx.tenant_id or "") if status < 400 else ""
            if route != "/metrics":
                self.metrics.requests.labels(method, route, str(status), tenant).inc()
                self.metrics.latency.labels(method, route, tenant).observe(elapsed)
            log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status,
                # ids passed explicitly too, so a deferred formatter still sees them
                extra={
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "route": route,
                    "request_id": request_id,
                    "tenant_id": ctx.tenant_id,
                    "trace_id": ctx.trace_id,
                    "span_id": ctx.span_id,
                },
            )
            reset_request_context(token)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # No length declared (chunked): read up to the limit before the app sees it, so
            # an oversized body gets a 413 (raised inside the app's read, it became a 400).
            chunks: list[bytes] = []
            size, more = 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break  # client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = bool(message.get("more_body", False))
                if size > self.max_bytes:
                    await self._reject(scope, send)
                    return
            body, replayed = b"".join(chunks), False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"request body exceeds {self.max_bytes} bytes"

    async def _reject(self, scope: Scope, send: Send) -> None:
        import json

        error = PayloadTooLarge(self._detail())
        body = json.dumps(error.problem(instance=scope.get("path"))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
