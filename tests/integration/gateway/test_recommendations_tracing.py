"""Traces: the model-server call carries the gateway's trace (real OTLP receiver on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.events.sqlite_log import SqliteEventLog

from tests.integration.event_path import Platform, auth, new_prefix
from tests.integration.gateway.fake_servers import FakeModelServer
from tests.integration.gateway.recs_env import add_deployment, gateway
from tests.integration.gateway.test_events_api import _LogTopics
from tests.otlp import OtlpReceiver, otlp_receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def test_model_call_carries_the_gateway_trace_and_no_raw_user_id(tmp_path: Path, otlp: OtlpReceiver) -> None:
    prefix = new_prefix()
    log = SqliteEventLog(tmp_path / "events.db")
    platform = Platform(f"sqlite:///{tmp_path / 'platform.db'}", prefix, [_LogTopics(log, prefix)])
    platform.onboard("traced")
    trace_file = tmp_path / "traceparents.txt"
    server = FakeModelServer("default", tmp_path, trace_file=trace_file).start()
    try:
        add_deployment(platform, "traced", "default", server.endpoint)
        key = platform.key("traced", "recommendations:read")
        with gateway(platform, log, telemetry={"otlp_endpoint": otlp.url}) as client:
            response = client.post(
                "/v1/recommendations", json={"user_id": "secret-user-42"}, headers=auth(key)
            )
            assert response.status_code == 200 and response.json()["fallback"] is False
        # leaving the client flushed both tracer providers
    finally:
        server.kill()
        log.close()

    spans = otlp.spans()
    by_name = {s.name: s for s in spans}
    server_span = by_name["POST /v1/recommendations"]
    client_span = by_name["recsys.gateway.model_predict"]
    assert "recsys.gateway.recommend" in by_name and "recsys.gateway.impression_produce" in by_name
    trace_id = server_span.trace_id.hex()
    assert client_span.trace_id.hex() == trace_id

    received = [line.split("-") for line in trace_file.read_text().split()]
    user_call = [parts for parts in received if parts[2] == client_span.span_id.hex()]
    assert user_call, f"no model-server call carried the client span; got {received}"
    assert user_call[0][1] == trace_id

    values = [str(a.value) for s in spans for a in s.attributes]
    assert not any("secret-user-42" in v for v in values), "a raw user id leaked into span attributes"
