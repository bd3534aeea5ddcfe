"""The whole loop as a tenant and an operator drive it, with one trace across it:

onboard a tenant -> import its catalog -> send its click history through the gateway ->
the stream processor fills the online and offline stores -> a training run (the KFP
pipeline under kfp.local) registers a champion in a real MLflow server -> a deployment
starts a KServe model server process on the champion -> the gateway answers
``POST /v1/recommendations`` from it, and the request's trace runs gateway -> model
server -> online-store read (real OTLP receiver on loopback).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from recsys_platform.cli.up_demo import post_events
from recsys_platform.client import ControlPlaneClient
from recsys_platform.demo import demo_items
from recsys_platform.demo.events import demo_events
from recsys_platform.embedded import EmbeddedPlatform, embedded_settings

from tests.otlp import OtlpReceiver, otlp_receiver
from tests.services import free_port

pytestmark = pytest.mark.e2e
TENANT = "loop-shop"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_trained_model_is_deployed_and_serves_through_the_gateway_in_one_trace(
    tmp_path: Path, mlflow_tracking_uri: str, otlp: OtlpReceiver
) -> None:
    settings = embedded_settings(tmp_path, free_port(), free_port())
    telemetry = {"otlp_endpoint": otlp.url, "log_json": False}
    cp = settings.control_plane.model_copy(
        update={
            "mlflow": settings.control_plane.mlflow.model_copy(
                update={"tracking_uri": mlflow_tracking_uri, "registry_name_prefix": f"e2e{free_port()}-"}
            ),
            "telemetry": settings.control_plane.telemetry.model_copy(update=telemetry),
        }
    )
    gw = settings.gateway.model_copy(
        update={"telemetry": settings.gateway.telemetry.model_copy(update=telemetry)}
    )
    platform = EmbeddedPlatform(type(settings)(control_plane=cp, gateway=gw, stream=settings.stream))
    platform.start()
    c = ControlPlaneClient(f"http://{cp.host}:{cp.port}", cp.admin_token.get_secret_value())
    gateway = httpx.Client(base_url=f"http://{gw.host}:{gw.port}", timeout=30)
    try:
        c.post("/v1/tenants", json={"id": TENANT, "display_name": "Loop", "use_case": "ecommerce"})
        items = demo_items("ecommerce")
        assert c.post(f"/v1/tenants/{TENANT}/catalog/items", json={"items": items})["rejected"] == 0
        key = c.post(
            f"/v1/tenants/{TENANT}/api-keys",
            json={"name": "shop", "scopes": ["events:write", "recommendations:read"]},
        )["key"]
        headers = {"Authorization": f"Bearer {key}"}
        events = demo_events(items, users=80, per_user=12)
        for start in range(0, len(events), 200):
            post_events(gateway, headers, events[start : start + 200])
        from recsys_platform.offline.parquet_store import OfflineEventStore

        store = OfflineEventStore(settings.stream.feature_store.offline_root)
        _wait(
            lambda: store.tenant_dir(TENANT).exists() and store.read(TENANT).num_rows >= len(events),
            60,
            "the offline store to hold the history",
        )

        run = c.post(f"/v1/tenants/{TENANT}/training-runs", json={})
        run = _wait(
            lambda: (
                (r := c.get(f"/v1/tenants/{TENANT}/training-runs/{run['id']}"))["status"]
                in ("succeeded", "failed")
                and r
            ),
            300,
            "the training run",
        )
        assert run["status"] == "succeeded", run
        assert run["model_version"] == "1" and run["promoted"] is True
        assert run["metrics"]["ndcg_at_10"] > run["metrics"]["baseline_popularity_ndcg_at_10"]
        models = c.get(f"/v1/tenants/{TENANT}/models")
        assert models["items"][0]["aliases"] == ["champion", "challenger"] or set(
            models["items"][0]["aliases"]
        ) == {"champion", "challenger"}

        c.post(f"/v1/tenants/{TENANT}/deployments", json={"name": "default", "model": {"alias": "champion"}})
        deployment = _wait(
            lambda: (
                (d := c.get(f"/v1/tenants/{TENANT}/deployments/default"))["status"] in ("ready", "failed")
                and d
            ),
            180,
            "the deployment",
        )
        assert deployment["status"] == "ready", deployment

        user = events[-1]["user_id"]
        response = gateway.post(
            "/v1/recommendations",
            json={"user_id": user, "n": 5},
            headers={**headers, "traceparent": TRACEPARENT},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback"] is False and body["model_version"] == "1"
        assert len(body["items"]) == 5
        seen = {e["item_id"] for e in events if e["user_id"] == user}
        assert not seen & {i["item_id"] for i in body["items"]}, "seen items are never recommended"

        # the model server exports in batches: wait for its spans of this trace
        def model_server_spans() -> list[Any]:
            return [s for s in otlp.spans(TRACE_ID) if s.name.startswith("model")]

        _wait(lambda: len(model_server_spans()) >= 2, 30, "the model server's spans")
    finally:
        gateway.close()
        c.close()
        platform.stop()  # stops the control plane's local model servers and flushes spans

    spans = otlp.spans(TRACE_ID)
    by_name = {s.name: s for s in spans}
    by_id = {s.span_id: s for s in spans}
    server = by_name["POST /v1/recommendations"]
    # the user's request is the predict with an online-store read (the gateway may also refresh
    # its popularity fallback from the model server within the same trace)
    read = by_name["online_store.read"]
    predict = by_id[read.parent_span_id]
    call = by_id[predict.parent_span_id]  # W3C traceparent over HTTP
    assert server.parent_span_id.hex() == TRACEPARENT.split("-")[2]  # continues the caller's trace
    assert (predict.name, call.name) == ("model_server.predict", "recsys.gateway.model_predict")

    def ancestors(span: Any) -> list[str]:
        names = []
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            names.append(span.name)
        return names

    # one tree: the caller's request -> gateway -> model server -> its online-store read
    chain = ancestors(read)
    assert "model_server.predict" in chain and "recsys.gateway.model_predict" in chain, chain
    assert (
        chain.index("model_server.predict")
        < chain.index("recsys.gateway.model_predict")
        < chain.index("POST /v1/recommendations")
    ), chain
    values = [str(a.value) for s in spans for a in s.attributes]
    assert not any(user in v for v in values), "a raw user id leaked into span attributes"
