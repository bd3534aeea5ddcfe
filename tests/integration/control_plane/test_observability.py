"""Health, readiness, metrics, request ids, JSON logs and traces of the control plane."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from recsys_platform.observability.logging import JsonFormatter

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header
from tests.otlp import OtlpReceiver, otlp_receiver

pytestmark = pytest.mark.integration


def test_healthz_readyz_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True
    client.get("/v1/tenants", headers=ADMIN)
    metrics = client.get("/metrics").text
    assert (
        'recsys_http_requests_total{method="GET",route="/v1/tenants",status="200",tenant=""} 1.0' in metrics
    )
    assert "recsys_http_request_duration_seconds_bucket" in metrics


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32


def test_logs_are_json_with_request_and_tenant_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    create_tenant(client, ADMIN, id="shop")
    key = create_key(client, ADMIN, "shop", "admin")
    formatter = JsonFormatter("recsys-control-plane")
    with caplog.at_level(logging.INFO, logger="recsys.access"):
        client.get("/v1/tenants/shop", headers={**key_header(key), "X-Request-ID": "req-42"})
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "recsys.access"]
    assert lines, "no access log line"
    line = lines[-1]
    assert line["request_id"] == "req-42"
    assert line["tenant_id"] == "shop"
    assert line["status"] == 200 and line["route"] == "/v1/tenants/{tenant_id}"
    assert key not in json.dumps(line)
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", line["span_id"])


def test_lines_logged_in_a_request_carry_its_trace_and_metrics_its_tenant(
    make_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    with make_client(span_processors=[SimpleSpanProcessor(exporter)]) as client:
        create_tenant(client, ADMIN, id="shop")
        key = create_key(client, ADMIN, "shop", "admin")
        with caplog.at_level(logging.INFO, logger="recsys.access"):
            client.get("/v1/tenants/shop", headers=key_header(key))
            client.get("/v1/tenants/made-up-1", headers=key_header(key))  # 403: no label value
        metrics = client.get("/metrics").text
    formatter = JsonFormatter("recsys-control-plane")
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "recsys.access"]
    [line] = [x for x in lines if x["route"] == "/v1/tenants/{tenant_id}" and x["status"] == 200]
    [server] = [
        s
        for s in exporter.get_finished_spans()
        if s.kind.name == "SERVER" and s.context.trace_id == int(line["trace_id"], 16)
    ]
    assert server.name == "GET /v1/tenants/{tenant_id}"
    assert line["trace_id"] == f"{server.context.trace_id:032x}"
    assert line["span_id"] == f"{server.context.span_id:016x}"
    assert 'route="/v1/tenants/{tenant_id}",status="200",tenant="shop"} 1.0' in metrics
    assert 'status="403",tenant=""} 1.0' in metrics and "made-up-1" not in metrics


def test_server_spans_are_recorded(make_client) -> None:  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    with make_client(span_processors=[SimpleSpanProcessor(exporter)]) as client:
        create_tenant(client, ADMIN, id="traced")
    spans = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert spans and spans[-1].attributes is not None
    assert spans[-1].attributes["http.route"] == "/v1/tenants"
    assert spans[-1].resource.attributes["service.name"] == "recsys-control-plane"


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def test_spans_are_exported_over_otlp_http(make_client, otlp: OtlpReceiver) -> None:  # type: ignore[no-untyped-def]
    with make_client(telemetry={"otlp_endpoint": otlp.url}) as client:
        client.get("/v1/tenants", headers=ADMIN)
    # leaving the client ran the lifespan's shutdown, which flushes the batch processor
    names = [span.name for span in otlp.spans()]
    assert "GET /v1/tenants" in names
