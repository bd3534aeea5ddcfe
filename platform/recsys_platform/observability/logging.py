"""Structured JSON logs carrying the request id, tenant id, trace id and span id of the current
request (or of the current span outside one), so a log line leads to its trace."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class RequestContext:
    """Mutable per-request context.

    A holder object rather than two context variables: FastAPI runs sync
    dependencies in a worker thread with a *copy* of the context, so a plain
    ``ContextVar.set`` there would never reach the middleware's access log line;
    mutating the shared holder does.
    """

    request_id: str | None = None
    tenant_id: str | None = None
    trace_id: str | None = None
    """The request's server span (set by the tracing hook), for lines logged outside it."""
    span_id: str | None = None


_request_context: ContextVar[RequestContext | None] = ContextVar("recsys_request", default=None)


def bind_request_context(request_id: str) -> tuple[RequestContext, Token[RequestContext | None]]:
    """Start a request's context; pass the token to :func:`reset_request_context`."""
    ctx = RequestContext(request_id=request_id)
    return ctx, _request_context.set(ctx)


def reset_request_context(token: Token[RequestContext | None]) -> None:
    _request_context.reset(token)


def set_tenant(tenant_id: str | None) -> None:
    """Record which tenant the current request acts for (no-op outside a request)."""
    ctx = _request_context.get()
    if ctx is not None:
        ctx.tenant_id = tenant_id


def current_request_context() -> RequestContext | None:
    return _request_context.get()


def bind_trace(trace_id: int, span_id: int) -> None:
    """Record the request's server span (no-op outside a request)."""
    ctx = _request_context.get()
    if ctx is not None:
        ctx.trace_id, ctx.span_id = f"{trace_id:032x}", f"{span_id:016x}"


def trace_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span, else of the current request's server span."""
    try:
        from opentelemetry import trace
    except ImportError:  # the CLI alone (recsys[cli]) has no OpenTelemetry
        span_context = None
    else:
        span_context = trace.get_current_span().get_span_context()
    if span_context is not None and span_context.is_valid:
        return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"
    ctx = _request_context.get()
    return (ctx.trace_id, ctx.span_id) if ctx is not None else (None, None)


_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with request and tenant context and ``extra`` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": record.getMessage(),
        }
        ctx = _request_context.get()
        if ctx is not None:
            if ctx.request_id is not None:
                payload["request_id"] = ctx.request_id
            if ctx.tenant_id is not None:
                payload["tenant_id"] = ctx.tenant_id
        trace_id, span_id = trace_ids()
        if trace_id is not None:
            payload["trace_id"], payload["span_id"] = trace_id, span_id
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _ContextTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = _request_context.get()
        trace_id, _ = trace_ids()
        pairs = [
            f"{k}={v}"
            for k, v in (
                ("request_id", ctx and ctx.request_id),
                ("tenant_id", ctx and ctx.tenant_id),
                ("trace_id", trace_id),
            )
            if v
        ]
        return f"{line} [{' '.join(pairs)}]" if pairs else line


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    """Route the root logger to stderr in JSON (or text) with request context."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(_ContextTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("kafka", "kafka.conn", "kafka.client"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
