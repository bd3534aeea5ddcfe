"""The gateway against the platform's real model server (``python -m recsys_model_servers``)
serving a small real model artifact: the wire protocol both sides agree on."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from recsys_platform.deploy.tokens import MODEL_TOKEN_ENV, MODEL_TOKEN_HEADER, deployment_token
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.settings import GatewaySettings

from tests.integration.event_path import Platform, auth, new_prefix
from tests.integration.gateway.recs_env import add_deployment, gateway
from tests.integration.gateway.test_events_api import _LogTopics
from tests.services import model_server_process

pytestmark = pytest.mark.integration
ITEMS = [f"i{i}" for i in range(80)]


def _train(directory: Path) -> None:
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.config import RankerConfig
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridConfig, HybridRecommender

    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{(u * 3 + int(rng.integers(0, 40))) % 80}", 1.7e9 + u * 100 + k)
        for u in range(60)
        for k in range(12)
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    log = Interactions.from_frame(
        events, user_col="user_id", item_col="item_id", value_col=None, timestamp_col="ts"
    )
    catalog = catalog_frame(
        [{"item_id": i, "title": f"Item {i}", "genres": ["even"], "created_at": 1.7e9} for i in ITEMS]
    )
    config = HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("als", iterations=3)
    save_model(HybridRecommender.fit(log, catalog, config), directory)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, str, subprocess.Popen[bytes]]]:
    tmp = tmp_path_factory.mktemp("real-server")
    _train(tmp / "model")
    prefix = new_prefix()
    events = SqliteEventLog(tmp / "events.db")
    try:
        # the token the platform gives deployment real/default; the gateway derives the same
        token = {
            MODEL_TOKEN_ENV: deployment_token(
                GatewaySettings().model_token_secret.get_secret_value(), "real", "default"
            )
        }
        with model_server_process(tmp / "model", tmp / "server.log", token) as (endpoint, process):
            platform = Platform(f"sqlite:///{tmp / 'platform.db'}", prefix, [_LogTopics(events, prefix)])
            platform.onboard("real", requests_per_second=10_000)
            add_deployment(platform, "real", "default", endpoint)
            key = platform.key("real", "recommendations:read")
            with gateway(platform, events, model_timeout_seconds=2.0) as client:
                yield client, key, process
    finally:
        events.close()


def test_recommendations_and_similar_items_from_the_real_model_server(
    served: tuple[TestClient, str, subprocess.Popen[bytes]],
) -> None:
    client, key, _ = served
    got = client.post("/v1/recommendations", json={"user_id": "someone-new", "n": 5}, headers=auth(key))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["fallback"] is False and body["model_version"]
    assert len(body["items"]) == 5 and all(i["item_id"] in ITEMS and i["reason"] for i in body["items"])
    excluded = body["items"][0]["item_id"]
    filtered = client.post(
        "/v1/recommendations",
        json={"user_id": "someone-new", "n": 5, "filters": {"exclude_items": [excluded]}},
        headers=auth(key),
    ).json()
    assert excluded not in [i["item_id"] for i in filtered["items"]]
    similar = client.get("/v1/items/i3/similar?n=4", headers=auth(key))
    assert similar.status_code == 200 and len(similar.json()["items"]) == 4
    assert "i3" not in [i["item_id"] for i in similar.json()["items"]]


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_model_server_answers_only_the_gateway_on_loopback(
    served: tuple[TestClient, str, subprocess.Popen[bytes]],
) -> None:
    """Without the deployment's token a model server answers 401 (it holds users' histories);
    it listens on 127.0.0.1 only; the gateway's calls carry the token (the real-server tests above
    get the model's answers, not the fallback)."""
    client, key, _ = served
    endpoint = client.app.state.recommend.routing.routes("real").targets["default"].url.split("/v1/")[0]  # type: ignore[attr-defined]
    port = int(endpoint.rsplit(":", 1)[1])
    assert _listen_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or ::
    body = {"instances": [{"user_id": "u1", "n": 3}]}
    url = f"{endpoint}/v1/models/default:predict"
    assert httpx.post(url, json=body, timeout=5).status_code == 401
    assert httpx.post(url, json=body, headers={MODEL_TOKEN_HEADER: "guess"}, timeout=5).status_code == 401
    other = deployment_token(GatewaySettings().model_token_secret.get_secret_value(), "real", "other")
    assert httpx.post(url, json=body, headers={MODEL_TOKEN_HEADER: other}, timeout=5).status_code == 401
    for path in ("/v2/models/default/infer", "/v1/models", "/v2/models/default", "/docs"):
        assert httpx.get(f"{endpoint}{path}", timeout=5).status_code == 401, path
    assert httpx.get(f"{endpoint}/v2/health/ready", timeout=5).status_code == 200  # probes stay open
    token = deployment_token(GatewaySettings().model_token_secret.get_secret_value(), "real", "default")
    assert httpx.post(url, json=body, headers={MODEL_TOKEN_HEADER: token}, timeout=5).status_code == 200
    got = client.post("/v1/recommendations", json={"user_id": "u1", "n": 3}, headers=auth(key))
    assert got.status_code == 200 and got.json()["fallback"] is False


def test_real_server_rejections_are_4xx_naming_the_field(
    served: tuple[TestClient, str, subprocess.Popen[bytes]],
) -> None:
    client, key, _ = served
    unknown = client.get("/v1/items/not-an-item/similar", headers=auth(key))
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["errors"][0]["field"] == "item_id" and "not-an-item" in unknown.json()["detail"]


def test_real_server_gone_serves_its_popular_list(
    served: tuple[TestClient, str, subprocess.Popen[bytes]],
) -> None:
    client, key, process = served
    client.post("/v1/recommendations", json={"user_id": "warm"}, headers=auth(key))
    time.sleep(0.5)  # the background popularity refresh from the real server
    process.kill()
    process.wait(timeout=10)
    got = client.post("/v1/recommendations", json={"user_id": "u1", "n": 3}, headers=auth(key))
    assert got.status_code == 200 and got.json()["fallback"] is True
    assert len(got.json()["items"]) == 3 and all(i["item_id"] in ITEMS for i in got.json()["items"])
    assert all(i["reason"] == "popular" for i in got.json()["items"])
