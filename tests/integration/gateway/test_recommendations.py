"""Recommendations through the gateway against real KServe model-server processes."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from recsys_platform.catalog.service import CatalogService
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.experiments.service import ExperimentService

from tests.integration.event_path import Platform, auth, new_prefix
from tests.integration.gateway.fake_servers import FakeModelServer
from tests.integration.gateway.recs_env import add_deployment, gateway, run_experiment
from tests.integration.gateway.test_events_api import _LogTopics

pytestmark = pytest.mark.integration
REC_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Env:
    platform: Platform
    log: SqliteEventLog
    servers: dict[str, FakeModelServer]
    keys: dict[str, str]
    client: TestClient


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("recs")
    prefix = new_prefix()
    log = SqliteEventLog(tmp / "events.db")
    platform = Platform(f"sqlite:///{tmp / 'platform.db'}", prefix, [_LogTopics(log, prefix)])
    for tenant in ("acme", "globex", "hooli", "initech"):
        platform.onboard(tenant, requests_per_second=100_000)
    # acme: "default" and "beta", globex: "gamma" (one process); initech: "delta" (its own
    # process, killed in a test); hooli: no deployment (catalog only)
    shared = FakeModelServer("default", tmp, None, "beta", "gamma")
    delta = FakeModelServer("delta", tmp)
    threads = [threading.Thread(target=s.start) for s in (shared, delta)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    servers = {"shared": shared, "delta": delta}
    try:
        for name, server in servers.items():
            assert server.process is not None, f"model server {name} did not start"
        add_deployment(platform, "acme", "default", shared.endpoint)
        add_deployment(platform, "acme", "beta", shared.endpoint)
        # an endpoint may also be the full V1 predict URL
        add_deployment(platform, "globex", "gamma", f"{shared.endpoint}/v1/models/gamma:predict")
        add_deployment(platform, "initech", "delta", delta.endpoint)
        CatalogService(platform.sessions, platform.sessions.kw["bind"]).upsert(
            "hooli",
            [
                {"item_id": f"h{i}", "title": f"H {i}", "category": "news" if i % 2 else "sports"}
                for i in range(5)
            ],
        )
        keys = {t: platform.key(t, "recommendations:read") for t in ("acme", "globex", "hooli", "initech")}
        # impressions are written in the background (responses never wait for the log)
        with gateway(platform, log) as client:
            yield Env(platform, log, servers, keys, client)
    finally:
        for server in servers.values():
            server.kill()
        log.close()


def recommend(env: Env, tenant: str, **body: object) -> dict:  # type: ignore[type-arg]
    response = env.client.post("/v1/recommendations", json=body, headers=auth(env.keys[tenant]))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_recommendations_from_the_default_deployment(env: Env) -> None:
    got = recommend(env, "acme", user_id="ann", n=5)
    assert REC_ID.match(got["recommendation_id"])
    assert len(got["items"]) == 5
    assert all(i["item_id"].startswith("default-i") for i in got["items"])
    assert [i["position"] for i in got["items"]] == [1, 2, 3, 4, 5]
    assert got["items"][0]["reason"] == "for an" and got["items"][0]["score"] == 1.0
    assert got["fallback"] is False and got["model_version"] == "7"
    assert got["variant"] is None and got["experiment"] is None
    again = recommend(env, "acme", user_id="ann", n=5)
    assert [i["item_id"] for i in again["items"]] == [i["item_id"] for i in got["items"]]
    assert again["recommendation_id"] != got["recommendation_id"]


def test_unknown_user_and_default_n(env: Env) -> None:
    got = recommend(env, "acme", user_id="never-seen-before")
    assert len(got["items"]) == 10 and got["fallback"] is False


def test_filters_reach_the_model_server(env: Env) -> None:
    first = recommend(env, "acme", user_id="bo", n=3)["items"][0]["item_id"]
    got = recommend(
        env, "acme", user_id="bo", n=20, filters={"exclude_items": [first], "include_categories": ["cat1"]}
    )
    ids = [i["item_id"] for i in got["items"]]
    assert first not in ids and len(ids) == 20
    assert all(int(i.rsplit("i", 1)[1]) % 3 == 1 for i in ids)  # the fake model's cat1 items


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "n": 0}, "n"),
        ({"user_id": "u", "n": 101}, "n"),
        ({"user_id": "u", "filters": {"only_cheap": True}}, "filters.only_cheap"),
        ({"n": 3}, "user_id"),
        ({"user_id": "u", "surface": "Bad Surface"}, "surface"),
        ({"user_id": "u", "colour": "red"}, "colour"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(env: Env, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = env.client.post("/v1/recommendations", json=body, headers=auth(env.keys["acme"]))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_malformed_body_and_model_server_rejection_are_4xx(env: Env) -> None:
    headers = {**auth(env.keys["acme"]), "Content-Type": "application/json"}
    response = env.client.post("/v1/recommendations", content=b"{not json", headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body"
    rejected = env.client.post(
        "/v1/recommendations", json={"user_id": "u", "context": {"reject": 1}}, headers=auth(env.keys["acme"])
    )
    assert rejected.status_code == 422, rejected.text
    assert rejected.json()["errors"][0]["field"] == "context.reject"
    assert "refuses" in rejected.json()["detail"]


def test_similar_items(env: Env) -> None:
    key = auth(env.keys["acme"])
    got = env.client.get("/v1/items/default-i010/similar?n=4", headers=key)
    assert got.status_code == 200, got.text
    assert [i["item_id"] for i in got.json()["items"]] == [f"default-i{i:03d}" for i in range(11, 15)]
    unknown = env.client.get("/v1/items/nope/similar", headers=key)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "item_id"
    assert env.client.get("/v1/items/default-i010/similar?n=0", headers=key).status_code == 422


def test_keys_reach_only_their_tenants_deployments(env: Env) -> None:
    globex = recommend(env, "globex", user_id="ann", n=10)
    assert all(i["item_id"].startswith("gamma-i") for i in globex["items"])
    acme = recommend(env, "acme", user_id="ann", n=10)
    assert not any(i["item_id"].startswith("gamma-") for i in acme["items"])
    events_only = env.platform.key("acme", "events:write")
    denied = env.client.post("/v1/recommendations", json={"user_id": "u"}, headers=auth(events_only))
    assert denied.status_code == 403
    assert env.client.post("/v1/recommendations", json={"user_id": "u"}).status_code == 401


def test_tenant_without_a_deployment_gets_the_newest_catalog_items(env: Env) -> None:
    got = recommend(env, "hooli", user_id="ann", n=3)
    assert got["fallback"] is True and got["model_version"] is None
    assert {i["item_id"] for i in got["items"]} <= {f"h{i}" for i in range(5)} and len(got["items"]) == 3
    sports = recommend(env, "hooli", user_id="ann", n=5, filters={"include_categories": ["sports"]})
    assert sorted(i["item_id"] for i in sports["items"]) == ["h0", "h2", "h4"]


def test_ab_split_is_weighted_and_sticky(env: Env) -> None:
    run_experiment(env.platform, "acme", "home-ab", "home", control="default", treatment="beta")
    time.sleep(0.3)  # routing cache TTL
    variants: dict[str, str] = {}

    def assign(i: int) -> None:
        got = recommend(env, "acme", user_id=f"user-{i}", n=1, surface="home")
        assert got["experiment"] == "home-ab"
        expected_prefix = "default-i" if got["variant"] == "control" else "beta-i"
        assert got["items"][0]["item_id"].startswith(expected_prefix)
        variants[f"user-{i}"] = got["variant"]

    for i in range(2000):
        assign(i)
    share = Counter(variants.values())["control"] / len(variants)
    assert 0.45 <= share <= 0.55, share
    for i in range(0, 2000, 40):  # sticky: the same users get the same variant again
        assert (
            recommend(env, "acme", user_id=f"user-{i}", n=1, surface="home")["variant"]
            == variants[f"user-{i}"]
        )
    # the experiment only covers its surface
    assert recommend(env, "acme", user_id="user-1", n=1)["experiment"] is None
    ExperimentService(env.platform.sessions).stop("acme", "home-ab")
    time.sleep(0.3)
    assert recommend(env, "acme", user_id="user-1", n=1, surface="home")["experiment"] is None


def test_impressions_land_in_the_impressions_topic(env: Env) -> None:
    got = recommend(env, "globex", user_id="imp-user", session_id="s9", n=4)
    topic = env.platform.topic("globex", "impressions")
    consumer = env.log.consumer(f"check-{time.monotonic_ns()}", re.escape(topic))
    found = None
    deadline = time.monotonic() + 10
    while found is None and time.monotonic() < deadline:
        for record in consumer.poll(500, 0.2):
            body = json.loads(record.value)
            if body["recommendation_id"] == got["recommendation_id"]:
                found = (record, body)
    consumer.close()
    assert found is not None, "impression not found in the impressions topic"
    record, body = found
    assert record.key == b"imp-user"
    assert body["items"] == [i["item_id"] for i in got["items"]] and body["positions"] == [1, 2, 3, 4]
    assert body["propensities"] == [1.0] * 4 and body["user_id"] == "imp-user" and body["session_id"] == "s9"
    assert body["tenant_id"] == "globex" and body["deployment"] == "gamma" and body["fallback"] is False
    assert any(k == "traceparent" for k, _ in record.headers)


def test_model_server_killed_mid_load_serves_the_fallback_then_recovers(env: Env) -> None:
    server = env.servers["delta"]
    warm = recommend(env, "initech", user_id="w", n=5)
    assert warm["fallback"] is False
    time.sleep(0.3)  # let the background popularity refresh land
    results: list[tuple[int, bool | None]] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            r = env.client.post(
                "/v1/recommendations", json={"user_id": f"l{i}", "n": 5}, headers=auth(env.keys["initech"])
            )
            results.append((r.status_code, r.json().get("fallback") if r.status_code == 200 else None))
            i += 1

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(0.5)
    server.kill()
    time.sleep(1.0)
    during = recommend(env, "initech", user_id="x", n=5)
    server.start()
    deadline = time.monotonic() + 20
    recovered = False
    while time.monotonic() < deadline and not recovered:
        recovered = recommend(env, "initech", user_id="y", n=5)["fallback"] is False
    stop.set()
    worker.join(timeout=30)
    assert results and all(status == 200 for status, _ in results), Counter(s for s, _ in results)
    assert any(fb for _, fb in results) and any(fb is False for _, fb in results)
    assert during["fallback"] is True and len(during["items"]) == 5
    assert [i["item_id"] for i in during["items"]] == [f"delta-i{i:03d}" for i in range(5)]  # popular list
    assert recovered, "the gateway did not go back to the model server after it came back"
    counted = env.client.app.state.recommend.metrics.recommendations  # type: ignore[attr-defined]
    assert counted.labels("fallback", "model_unavailable")._value.get() > 0


def test_slow_model_server_times_out_into_the_fallback(env: Env) -> None:
    started = time.monotonic()
    got = recommend(env, "acme", user_id="slow", n=3, context={"sleep_ms": 3000})
    assert got["fallback"] is True and len(got["items"]) == 3
    assert time.monotonic() - started < 2.5
