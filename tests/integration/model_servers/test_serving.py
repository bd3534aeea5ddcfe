"""The model server as a real process: a real artifact, the real Feast online store (Redis),
real OTLP export, KServe V1 and V2 over HTTP.

One server process serves the whole module (start-up imports Feast: several seconds).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from recsys_platform.features.feast_repo import FeastStores
from recsys_platform.features.feast_store import FeastUserFeatureStore
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.features.state import UserState
from recsys_platform.provisioning.feast_project import FeastProvisioner
from recsys_platform.provisioning.ports import TenantContext
from recsys_platform.tenancy.schemas import Retention

from tests.integration.model_servers.support import ServerProcess, base_env, fit_and_save, model_server
from tests.otlp import OtlpReceiver, otlp_receiver

pytestmark = pytest.mark.integration

NAME = "T_serving"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


@dataclass
class Features:
    settings: FeatureStoreSettings
    store: FeastUserFeatureStore
    tenant: str

    def click(self, user_id: str, *recent: str) -> None:
        """Write the user's row as the stream processor would (recent items, most recent first)."""
        self.store.write(
            self.tenant, [UserState(user_id=user_id, recent_items=recent, event_count=len(recent))]
        )


@pytest.fixture(scope="module")
def features(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Features]:
    """A provisioned tenant in the real Redis online store (file registry in a temp folder)."""
    root = tmp_path_factory.mktemp("feast")
    settings = FeatureStoreSettings(
        online_store="redis",
        redis_url=redis_url,
        registry=root / "registry",
        sqlite_dir=root / "online",
        offline_root=root / "offline",
    )
    stores = FeastStores(settings)
    tenant = f"ms-{uuid.uuid4().hex[:10]}"
    provisioner = FeastProvisioner(settings, stores)
    refs = provisioner.provision(TenantContext(tenant, "news", Retention()))
    yield Features(settings, FeastUserFeatureStore(settings, stores), tenant)
    provisioner.deprovision(tenant, refs)  # leave no rows behind in the shared Redis
    stores.close()


@pytest.fixture(scope="module")
def server(
    features: Features, otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("model-server")
    artifact = fit_and_save(tmp / "artifact")
    fs = features.settings
    env = base_env(
        tmp,
        RECSYS_MODEL_SERVER_FEATURE_STORE__ONLINE_STORE="redis",
        RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL=str(fs.redis_url),
        RECSYS_MODEL_SERVER_FEATURE_STORE__REGISTRY=str(fs.registry),
        RECSYS_MODEL_SERVER_FEATURE_STORE__SQLITE_DIR=str(fs.sqlite_dir),
        RECSYS_MODEL_SERVER_FEATURE_STORE__OFFLINE_ROOT=str(fs.offline_root),
        RECSYS_MODEL_SERVER_TELEMETRY__OTLP_ENDPOINT=otlp.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    args = ["--model-uri", str(artifact), "--tenant-id", features.tenant]
    with model_server(args, env, tmp / "server.log", NAME) as proc:
        yield proc


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert isinstance(prediction, dict)
    return prediction


def ids(prediction: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in prediction["items"]]


def topic(item_id: str) -> str:
    return item_id.split("-")[0]


def test_readiness(server: ServerProcess, client: httpx.Client) -> None:
    assert client.get(f"{server.url}/v2/health/ready").json() == {"ready": True}
    assert client.get(f"{server.url}/v2/models/{NAME}/ready").status_code == 200
    assert client.get(f"{server.url}/v2/models/other/ready").status_code == 404
    assert server.predict(client, {"popular": True}).status_code == 200
    assert client.post(f"{server.url}/v1/models/other:predict", json={"instances": []}).status_code == 404


def test_unknown_user_gets_a_cold_start_list(server: ServerProcess, client: httpx.Client) -> None:
    p = ok(server.predict(client, {"user_id": f"new-{uuid.uuid4().hex}", "n": 10}))
    assert p["cold_start"] is True
    assert p["model_name"] == NAME and p["model_version"].startswith("local-")
    assert len(p["items"]) == 10 and len(set(ids(p))) == 10
    assert all(i["reason"] and i["sources"] and 0.0 <= i["score"] <= 1.0 for i in p["items"])
    assert not any(i.endswith("-3") for i in ids(p))  # unavailable items are never served


def test_a_click_in_the_online_store_changes_the_next_list(
    server: ServerProcess, client: httpx.Client, features: Features
) -> None:
    user = f"reader-{uuid.uuid4().hex[:8]}"
    features.click(user, "food-1", "food-2")
    warm = ok(server.predict(client, {"user_id": user, "n": 5}))
    assert warm["cold_start"] is False
    assert [topic(i) for i in ids(warm)].count("food") >= 4, warm
    assert {"food-1", "food-2"}.isdisjoint(ids(warm))  # seen items never come back
    features.click(user, "travel-5", "travel-6", "travel-7", "food-1", "food-2")
    after = ok(server.predict(client, {"user_id": user, "n": 5}))
    assert ids(after) != ids(warm)
    assert "travel" in {topic(i) for i in ids(after)}, after
    assert {"travel-5", "travel-6", "travel-7"}.isdisjoint(ids(after))


def test_request_history_without_a_stored_row(server: ServerProcess, client: httpx.Client) -> None:
    p = ok(
        server.predict(
            client, {"user_id": f"anon-{uuid.uuid4().hex}", "n": 5, "history": ["tech-1", "tech-2"]}
        )
    )
    assert p["cold_start"] is False and [topic(i) for i in ids(p)].count("tech") >= 4


def test_v2_open_inference_protocol(server: ServerProcess, client: httpx.Client) -> None:
    requests = [{"popular": True, "n": 3}, {"similar_to": "tech-1", "n": 2}]
    body = {
        "id": "req-1",
        "inputs": [
            {"name": "request", "shape": [2], "datatype": "BYTES", "data": [json.dumps(r) for r in requests]}
        ],
    }
    r = client.post(f"{server.url}/v2/models/{NAME}/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-1" and out["model_name"] == NAME
    (output,) = out["outputs"]
    assert output["name"] == "response" and output["datatype"] == "BYTES" and output["shape"] == [2]
    popular, similar = (json.loads(x) for x in output["data"])
    assert len(popular["items"]) == 3 and len(similar["items"]) == 2
    bad = {
        "inputs": [
            {"name": "request", "shape": [1], "datatype": "BYTES", "data": ['{"popular": true, "n": 0}']}
        ]
    }
    r = client.post(f"{server.url}/v2/models/{NAME}/infer", json=bad)
    assert r.status_code == 400 and "inputs.request[0].n" in r.json()["error"]


def test_similar_items_and_popular(server: ServerProcess, client: httpx.Client) -> None:
    similar = ok(server.predict(client, {"similar_to": "tech-1", "n": 5}))
    assert {topic(i) for i in ids(similar)} == {"tech"} and "tech-1" not in ids(similar)
    assert all(i["reason"].startswith("similar to") for i in similar["items"])
    popular = ok(server.predict(client, {"popular": True, "n": 100}))
    assert len(popular["items"]) == 100 and not any(i.endswith("-3") for i in ids(popular))
    assert popular["cold_start"] is False


def test_filters(server: ServerProcess, client: httpx.Client) -> None:
    user = f"filter-{uuid.uuid4().hex}"
    only_food = ok(
        server.predict(client, {"user_id": user, "n": 10, "filters": {"include_categories": ["food"]}})
    )
    assert len(only_food["items"]) == 10 and {topic(i) for i in ids(only_food)} == {"food"}
    no_food = ok(
        server.predict(
            client,
            {
                "user_id": user,
                "n": 20,
                "filters": {"exclude_categories": ["food"], "exclude_items": ["tech-5"]},
            },
        )
    )
    assert "food" not in {topic(i) for i in ids(no_food)} and "tech-5" not in ids(no_food)
    # a food reader asking for tech only: still a full list of tech items
    warm = {
        "user_id": user,
        "n": 10,
        "history": ["food-1", "food-2"],
        "filters": {"include_categories": ["tech"]},
    }
    tech = ok(server.predict(client, warm))
    assert tech["cold_start"] is False
    assert len(tech["items"]) == 10 and {topic(i) for i in ids(tech)} == {"tech"}


@pytest.mark.parametrize(
    ("instance", "field"),
    [
        ({"user_id": "u", "n": 0}, "instances[0].n"),
        ({"user_id": "u", "n": 201}, "instances[0].n"),
        ({"user_id": "u", "filters": {"colour": "red"}}, "instances[0].filters.colour"),
        ({"user_id": 42}, "instances[0].user_id"),
        ({"similar_to": "no-such-item"}, "instances[0].similar_to: unknown item 'no-such-item'"),
        ({"n": 5}, "instances[0]: must have exactly one of"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    server: ServerProcess, client: httpx.Client, instance: dict[str, Any], field: str
) -> None:
    r = server.predict(client, instance)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]


def test_a_request_continues_the_callers_trace(
    server: ServerProcess, client: httpx.Client, features: Features, otlp: OtlpReceiver
) -> None:
    trace_id = uuid.uuid4().hex
    parent = uuid.uuid4().hex[:16]
    user = "alice@example.com"
    r = server.predict(
        client, {"user_id": user, "n": 3}, headers={"traceparent": f"00-{trace_id}-{parent}-01"}
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 15
    spans: dict[str, Any] = {}
    while time.monotonic() < deadline and len(spans) < 3:
        spans = {s.name: s for s in otlp.spans(trace_id)}
        time.sleep(0.1)
    assert set(spans) == {"model_server.predict", "online_store.read", "model.recommend"}, server.log_tail()
    root = spans["model_server.predict"]
    assert root.parent_span_id.hex() == parent
    assert spans["online_store.read"].parent_span_id == root.span_id
    assert spans["model.recommend"].parent_span_id == root.span_id
    attributes = {a.key: a.value for s in spans.values() for a in s.attributes}
    assert "recsys.user_hash" in attributes
    assert user not in str(attributes)


def test_latency_of_sequential_v1_predict(server: ServerProcess, features: Features) -> None:
    """p50/p99 of sequential keep-alive V1 calls (one online-store read each); printed, not asserted."""
    features.click("latency-user", "sports-1", "sports-2", "sports-4")
    timings: list[float] = []
    with httpx.Client(timeout=10) as c:
        for i in range(300):
            started = time.perf_counter()
            r = server.predict(c, {"user_id": "latency-user" if i % 2 else f"cold-{i}", "n": 10})
            timings.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"\nmodel server V1 predict, 300 sequential keep-alive calls: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    assert p50 > 0
