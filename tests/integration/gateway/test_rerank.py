"""``POST /v1/rerank`` through the gateway against the platform's real model server process
(``python -m recsys_model_servers``) serving a small real model artifact."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.gateway.assignment import assign_variant

from tests.integration.event_path import Platform, auth, new_prefix
from tests.integration.gateway.recs_env import add_deployment, gateway, run_experiment
from tests.integration.gateway.test_events_api import _LogTopics
from tests.integration.gateway.test_recommendations_real_server import _train
from tests.services import free_port, model_server_process

pytestmark = pytest.mark.integration
REC_ID = re.compile(r"^[0-9a-f]{32}$")
PAGE = ["i5", "i40", "not-in-model-b", "i12", "i33", "not-in-model-a", "i7", "i61"]


@dataclass
class Env:
    client: TestClient
    platform: Platform
    events: SqliteEventLog
    keys: dict[str, str]
    process: subprocess.Popen[bytes]
    endpoint: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("rerank")
    _train(tmp / "model")
    events = SqliteEventLog(tmp / "events.db")
    try:
        with model_server_process(tmp / "model", tmp / "server.log") as (endpoint, process):
            yield from _env(tmp, events, endpoint, process)
    finally:
        events.close()


def _env(tmp: Path, events: SqliteEventLog, endpoint: str, process: subprocess.Popen[bytes]) -> Iterator[Env]:
    prefix = new_prefix()
    platform = Platform(f"sqlite:///{tmp / 'platform.db'}", prefix, [_LogTopics(events, prefix)])
    for tenant in ("acme", "globex", "initech"):
        platform.onboard(tenant, requests_per_second=10_000)
    add_deployment(platform, "acme", "default", endpoint)
    # a second deployment of the same process (the full predict URL names the served model)
    add_deployment(platform, "acme", "beta", f"{endpoint}/v1/models/default:predict")
    # initech's model server is absent: nothing listens on that port
    add_deployment(platform, "initech", "default", f"http://127.0.0.1:{free_port()}")
    keys = {t: platform.key(t, "recommendations:read") for t in ("acme", "globex", "initech")}
    with gateway(platform, events, model_timeout_seconds=2.0) as client:
        yield Env(client, platform, events, keys, process, endpoint)


def rerank(env: Env, tenant: str, **body: object) -> dict:  # type: ignore[type-arg]
    response = env.client.post("/v1/rerank", json=body, headers=auth(env.keys[tenant]))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def ids(answer: dict) -> list[str]:  # type: ignore[type-arg]
    return [i["item_id"] for i in answer["items"]]


def model_order(env: Env, user_id: str, items: list[str], **extra: object) -> list[str]:
    """The real model server's own answer to the re-rank instance."""
    got = httpx.post(
        f"{env.endpoint}/v1/models/default:predict",
        json={"instances": [{"user_id": user_id, "items": items, **extra}]},
        timeout=10,
    )
    assert got.status_code == 200, got.text
    return [i["item_id"] for i in got.json()["predictions"][0]["items"]]


def test_the_given_items_come_back_ordered_by_the_model(env: Env) -> None:
    got = rerank(env, "acme", user_id="u3", items=PAGE)
    assert REC_ID.match(got["recommendation_id"]) and got["fallback"] is False and got["model_version"]
    assert got["variant"] is None and got["experiment"] is None
    assert sorted(ids(got)) == sorted(PAGE)  # nothing dropped, nothing added
    assert ids(got)[-2:] == ["not-in-model-b", "not-in-model-a"]  # unknown: last, in the given order
    assert ids(got) == model_order(env, "u3", PAGE)
    assert [i["position"] for i in got["items"]] == list(range(1, len(PAGE) + 1))
    assert all(i["reason"] for i in got["items"]) and got["items"][0]["score"] == 1.0
    assert got["items"][-1]["reason"] == "not known to the model"
    # a different given order of the same items gives the same answer
    assert ids(rerank(env, "acme", user_id="u3", items=list(reversed(PAGE))))[:6] == ids(got)[:6]


def test_n_and_filters(env: Env) -> None:
    full = ids(rerank(env, "acme", user_id="u3", items=PAGE))
    assert ids(rerank(env, "acme", user_id="u3", items=PAGE, n=3)) == full[:3]
    filtered = rerank(env, "acme", user_id="u3", items=PAGE, filters={"exclude_items": [full[0], "i61"]})
    assert ids(filtered) == [i for i in full if i not in (full[0], "i61")]
    # the artifact's catalog puts every item in "even": excluding it leaves no known item
    no_even = rerank(env, "acme", user_id="u3", items=PAGE, filters={"exclude_categories": ["even"]})
    assert ids(no_even) == ["not-in-model-b", "not-in-model-a"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "items": ["i1", "i2", "i1"]}, "items"),
        ({"user_id": "u", "items": []}, "items"),
        ({"user_id": "u", "items": [f"i{k}" for k in range(501)]}, "items"),
        ({"user_id": "u", "items": ["i1"], "n": 0}, "n"),
        ({"user_id": "u", "items": ["i1"], "filters": {"colour": "red"}}, "filters.colour"),
        ({"items": ["i1"]}, "user_id"),
        ({"user_id": "u", "items": ["i1"], "filters": {"exclude_seen": "maybe"}}, "filters.exclude_seen"),
    ],
)
def test_bad_requests_are_422_naming_the_field(env: Env, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = env.client.post("/v1/rerank", json=body, headers=auth(env.keys["acme"]))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    if body.get("items") == ["i1", "i2", "i1"]:
        assert "duplicate item 'i1' (items[0] and items[2])" in response.text


def test_ab_routing_and_the_impression(env: Env) -> None:
    experiment_id = run_experiment(
        env.platform, "acme", "page-ab", "article-page", control="default", treatment="beta"
    )
    time.sleep(0.3)  # routing cache TTL
    got = rerank(env, "acme", user_id="reader-7", session_id="s1", items=PAGE, n=5, surface="article-page")
    expected = assign_variant("acme", "page-ab", "reader-7", [("control", 1.0), ("treatment", 1.0)])
    assert got["experiment"] == "page-ab" and got["variant"] == expected.variant
    assert got["fallback"] is False and len(got["items"]) == 5
    topic = env.platform.topic("acme", "impressions")
    consumer = env.events.consumer(f"check-{time.monotonic_ns()}", re.escape(topic))
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
    assert record.key == b"reader-7"
    assert body["items"] == ids(got) and body["positions"] == [1, 2, 3, 4, 5]
    assert body["variant"] == expected.variant and body["experiment_id"] == experiment_id
    assert body["deployment"] == ("default" if expected.variant == "control" else "beta")
    assert body["propensities"] == [0.5] * 5 and body["surface"] == "article-page"
    assert body["session_id"] == "s1" and body["fallback"] is False


def test_tenant_isolation(env: Env) -> None:
    # globex has no deployment: its key never reaches acme's model server
    other = rerank(env, "globex", user_id="u3", items=PAGE)
    assert other["fallback"] is True and other["model_version"] is None
    assert ids(other) == PAGE  # the given order, not acme's model's
    events_only = env.platform.key("acme", "events:write")
    body = {"user_id": "u", "items": ["i1"]}
    assert env.client.post("/v1/rerank", json=body, headers=auth(events_only)).status_code == 403
    assert env.client.post("/v1/rerank", json=body).status_code == 401


def test_absent_model_server_keeps_the_given_order(env: Env) -> None:
    got = rerank(env, "initech", user_id="u3", items=PAGE, n=4, filters={"exclude_items": ["i40"]})
    assert got["fallback"] is True and got["model_version"] is None
    assert ids(got) == ["i5", "not-in-model-b", "i12", "i33"]
    assert all(i["reason"] == "in the given order" for i in got["items"])
    assert [i["position"] for i in got["items"]] == [1, 2, 3, 4]


def test_killed_model_server_keeps_the_given_order(env: Env) -> None:  # last: kills the process
    assert rerank(env, "acme", user_id="u3", items=PAGE)["fallback"] is False
    env.process.kill()
    env.process.wait(timeout=10)
    got = rerank(env, "acme", user_id="u3", items=PAGE)
    assert got["fallback"] is True and ids(got) == PAGE
    assert got["items"][0]["score"] == 1.0 and got["items"][0]["score"] > got["items"][-1]["score"]
