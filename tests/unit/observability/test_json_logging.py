"""JSON log lines carry the service, the request and tenant context and ``extra`` fields."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from recsys_platform.observability.logging import (
    JsonFormatter,
    bind_request_context,
    configure_logging,
    reset_request_context,
    set_tenant,
)


@pytest.fixture
def request_context() -> Iterator[None]:
    _, token = bind_request_context("req-123")
    set_tenant("acme-shop")
    yield
    reset_request_context(token)


def render(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> dict[str, Any]:
    logger = logging.getLogger("recsys.test")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, msg, args, None, extra=extra)
    line = JsonFormatter("control-plane").format(record)
    assert "\n" not in line, "one object per line"
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_base_fields() -> None:
    out = render()
    assert out["message"] == "hello world"
    assert out["level"] == "WARNING"
    assert out["logger"] == "recsys.test"
    assert out["service"] == "control-plane"
    assert out["ts"].endswith("+00:00")
    assert "request_id" not in out
    assert "tenant_id" not in out
    assert "msg" not in out and "args" not in out, "LogRecord internals stay out"


def test_request_and_tenant_ids_from_context(request_context: None) -> None:
    out = render()
    assert out["request_id"] == "req-123"
    assert out["tenant_id"] == "acme-shop"


def test_extra_fields_are_included_and_unserialisable_ones_stringified() -> None:
    out = render(path="/v1/tenants", status=201, duration_ms=1.5, obj=object())
    assert (out["path"], out["status"], out["duration_ms"]) == ("/v1/tenants", 201, 1.5)
    assert out["obj"].startswith("<object object")


def test_exception_is_included() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    out = json.loads(JsonFormatter("svc").format(record))
    assert "ValueError: broken" in out["exc_info"]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False


@pytest.mark.usefixtures("restore_root_logger", "request_context")
def test_configure_logging_writes_json_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("control-plane", "INFO", json_logs=True)
    logging.getLogger("recsys.test").info("ready", extra={"port": 8000})
    logging.getLogger("recsys.test").debug("hidden below INFO")
    [line] = capsys.readouterr().err.splitlines()
    out = json.loads(line)
    assert (out["message"], out["port"], out["request_id"]) == ("ready", 8000, "req-123")


@pytest.mark.usefixtures("restore_root_logger", "request_context")
def test_configure_logging_text_mode_shows_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("control-plane", "INFO", json_logs=False)
    logging.getLogger("recsys.test").warning("slow")
    err = capsys.readouterr().err
    assert "WARNING recsys.test: slow [request_id=req-123 tenant_id=acme-shop]" in err
