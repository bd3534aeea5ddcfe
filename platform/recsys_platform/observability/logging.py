"""Structured JSON logs carrying the request id and tenant id of the current request."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("recsys_request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("recsys_tenant_id", default=None)

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
        if (rid := request_id_var.get()) is not None:
            payload["request_id"] = rid
        if (tid := tenant_id_var.get()) is not None:
            payload["tenant_id"] = tid
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _ContextTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = [
            f"{k}={v}"
            for k, v in (("request_id", request_id_var.get()), ("tenant_id", tenant_id_var.get()))
            if v
        ]
        return f"{line} [{' '.join(ctx)}]" if ctx else line


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
