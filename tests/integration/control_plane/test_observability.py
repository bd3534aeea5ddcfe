"""Health, readiness, metrics, request ids, JSON logs and traces of the control plane."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from recsys_platform.observability.logging import JsonFormatter

from tests.factories import ADMIN, create_key, create_tenant, key_header

pytestmark = pytest.mark.integration


def test_healthz_readyz_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True
    client.get("/v1/tenants", headers=ADMIN)
    metrics = client.get("/metrics").text
    assert 'recsys_http_requests_total{method="GET",route="/v1/tenants",status="200"} 1.0' in metrics
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


def test_server_spans_are_recorded(make_client) -> None:  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    with make_client(span_processors=[SimpleSpanProcessor(exporter)]) as client:
        create_tenant(client, ADMIN, id="traced")
    spans = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert spans and spans[-1].attributes is not None
    assert spans[-1].attributes["http.route"] == "/v1/tenants"
    assert spans[-1].resource.attributes["service.name"] == "recsys-control-plane"


class _OtlpReceiver(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[str]:
    _OtlpReceiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OtlpReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_spans_are_exported_over_otlp_http(make_client, otlp_receiver: str) -> None:  # type: ignore[no-untyped-def]
    with make_client(telemetry={"otlp_endpoint": otlp_receiver}) as client:
        client.get("/v1/tenants", headers=ADMIN)
    # leaving the client ran the lifespan's shutdown, which flushes the batch processor
    names = [
        span.name
        for request in _OtlpReceiver.received
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert "GET /v1/tenants" in names
