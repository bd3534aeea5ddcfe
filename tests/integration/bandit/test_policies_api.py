"""``/v1/tenants/{id}/policies`` on SQLite and PostgreSQL: per-surface bandit settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header

pytestmark = pytest.mark.integration


@pytest.fixture
def api(make_client: AppFactory) -> Iterator[TestClient]:
    with make_client() as client:
        create_tenant(client, ADMIN, id="vid", use_case="video")
        create_tenant(client, ADMIN, id="other")
        yield client


def test_put_get_list_delete_a_policy(api: TestClient) -> None:
    assert api.get("/v1/tenants/vid/policies/home", headers=ADMIN).status_code == 404
    body = {"mode": "online", "exploration": 0.05, "reward": {"skip": -1, "wait_seconds": 900}}
    put = api.put("/v1/tenants/vid/policies/home", json=body, headers=ADMIN)
    assert put.status_code == 200, put.text
    got = api.get("/v1/tenants/vid/policies/home", headers=ADMIN).json()
    assert got["mode"] == "online" and got["exploration"] == 0.05
    assert (
        got["reward"]["skip"] == -1 and got["reward"]["click"] == 1.0 and got["reward"]["wait_seconds"] == 900
    )
    assert got["checkpoint_version"] is None and got["learned"] == 0
    changed = api.put("/v1/tenants/vid/policies/home", json={"mode": "apprentice"}, headers=ADMIN)
    assert changed.json()["mode"] == "apprentice" and changed.json()["exploration"] == 0.1
    assert [p["surface"] for p in api.get("/v1/tenants/vid/policies", headers=ADMIN).json()["items"]] == [
        "home"
    ]
    assert api.get("/v1/tenants/other/policies", headers=ADMIN).json()["items"] == []
    assert api.delete("/v1/tenants/vid/policies/home", headers=ADMIN).status_code == 204
    assert api.get("/v1/tenants/vid/policies/home", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "greedy"}, "mode"),
        ({"exploration": 1.5}, "exploration"),
        ({"reward": {"wait_seconds": 0}}, "wait_seconds"),
        ({"epsilon": 0.1}, "epsilon"),
    ],
)
def test_invalid_settings_are_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = api.put("/v1/tenants/vid/policies/home", json=body, headers=ADMIN)
    assert response.status_code == 422 and field in response.text


def test_another_tenants_key_cannot_touch_a_policy(api: TestClient) -> None:
    other = key_header(create_key(api, ADMIN, "other", "admin"))
    assert api.put("/v1/tenants/vid/policies/home", json={"mode": "online"}, headers=other).status_code == 403
    assert api.get("/v1/tenants/vid/policies", headers=other).status_code == 403


def test_guardrails_are_checked_when_written(api: TestClient) -> None:
    url = "/v1/tenants/vid/guardrails/home"
    refused = api.put(
        url,
        json={"slate_size": 4, "rules": [{"type": "freshness", "newer_than_hours": 24, "min_share": 1.5}]},
        headers=ADMIN,
    )
    assert refused.status_code == 422 and "min_share" in refused.text
    too_many = {
        "slate_size": 2,
        "rules": [
            {"type": "pin", "position": 1, "where": [{"field": "provider", "value": "a"}]},
            {"type": "freshness", "newer_than_hours": 24, "min_share": 1.0},
        ],
    }
    refused = api.put(url, json=too_many, headers=ADMIN)
    assert refused.status_code == 422
    assert "needs 2 fresh items but only 1 of 2 positions are not pinned" in refused.text
    assert api.get(url, headers=ADMIN).status_code == 404  # nothing half-written
    ok = api.put(
        url,
        json={"rules": [{"type": "bury", "where": [{"field": "rating", "value": "adult"}]}]},
        headers=ADMIN,
    )
    assert ok.status_code == 200, ok.text
    assert api.get(url, headers=ADMIN).json()["rules"][0]["type"] == "bury"
    assert [s["surface"] for s in api.get("/v1/tenants/vid/guardrails", headers=ADMIN).json()["items"]] == [
        "home"
    ]
    assert api.delete(url, headers=ADMIN).status_code == 204


def test_evaluation_needs_a_policy_and_a_log(api: TestClient) -> None:
    body = {"candidates": [{"name": "r", "kind": "ranker"}]}
    assert api.post("/v1/tenants/vid/policies/home/evaluate", json=body, headers=ADMIN).status_code == 404
    api.put("/v1/tenants/vid/policies/home", json={"mode": "apprentice"}, headers=ADMIN)
    empty = api.post("/v1/tenants/vid/policies/home/evaluate", json=body, headers=ADMIN)
    assert empty.status_code == 422 and "no closed decisions" in empty.text
    bad = {"candidates": [{"name": "c", "kind": "checkpoint", "version": "../x"}]}
    assert api.post("/v1/tenants/vid/policies/home/evaluate", json=bad, headers=ADMIN).status_code == 422
