"""Spans of the request path, continuing the caller's W3C ``traceparent``.

Per request: ``model_server.predict`` (a SERVER span whose parent is the header's
span) with children ``online_store.read`` and ``model.recommend``. User ids never go
into attributes raw: :func:`hash_user_id` gives a stable, tenant-scoped digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PREDICT_SPAN = "model_server.predict"
ONLINE_STORE_SPAN = "online_store.read"
MODEL_SPAN = "model.recommend"
STREAM_SPAN = "stream_state.read"
_PROPAGATOR = TraceContextTextMapPropagator()


def hash_user_id(tenant_id: str | None, user_id: str) -> str:
    """First 16 hex digits of sha256(``tenant:user``): joins spans of one user, reveals no id."""
    return hashlib.sha256(f"{tenant_id or ''}:{user_id}".encode()).hexdigest()[:16]


def parent_context(headers: Mapping[str, str] | None) -> Context | None:
    """The caller's trace context from ``traceparent``/``tracestate`` headers (None if absent)."""
    if not headers:
        return None
    carrier = {k.lower(): v for k, v in headers.items() if k.lower() in ("traceparent", "tracestate")}
    if not carrier:
        return None
    return _PROPAGATOR.extract(carrier=carrier)


class RequestTracer:
    """Creates the request path's spans from one (not global) tracer provider."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self._provider = provider
        self._tracer: Tracer = (provider or trace.NoOpTracerProvider()).get_tracer("recsys_model_servers")

    @contextmanager
    def predict(self, headers: Mapping[str, str] | None, attributes: Mapping[str, Any]) -> Iterator[Span]:
        """The request's SERVER span, child of the caller's span when a traceparent came in."""
        with self._tracer.start_as_current_span(
            PREDICT_SPAN, context=parent_context(headers), kind=SpanKind.SERVER, attributes=dict(attributes)
        ) as span:
            yield span

    @contextmanager
    def child(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
        """A span under the current one."""
        with self._tracer.start_as_current_span(name, attributes=dict(attributes or {})) as span:
            yield span

    def shutdown(self) -> None:
        """Flush and stop the exporters."""
        if self._provider is not None:
            self._provider.shutdown()
