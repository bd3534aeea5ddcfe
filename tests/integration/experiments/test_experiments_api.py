"""The experiments API of the control plane, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from recsys_platform.db.engine import build_engine, session_factory, transaction
from recsys_platform.db.models import Deployment, Experiment, ExperimentVariantStats
from sqlalchemy import select

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header

pytestmark = pytest.mark.integration


def _deploy(database_url: str, tenant_id: str, *names: str) -> None:
    engine = build_engine(database_url)
    with transaction(session_factory(engine)) as s:
        for name in names:
            s.add(Deployment(id=uuid.uuid4().hex, tenant_id=tenant_id, name=name, status="ready"))
    engine.dispose()


def _body(name: str = "exp1", surface: str = "home", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": name,
        "surface": surface,
        "variants": [
            {"name": "control", "deployment": "champion", "weight": 50},
            {"name": "treatment", "deployment": "challenger", "weight": 50},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def api(make_client: AppFactory, database_url: str) -> Iterator[TestClient]:
    with make_client() as client:
        create_tenant(client, ADMIN, id="shop")
        create_tenant(client, ADMIN, id="other")
        _deploy(database_url, "shop", "champion", "challenger")
        _deploy(database_url, "other", "theirs")
        yield client


URL = "/v1/tenants/shop/experiments"


def test_create_start_stop_lifecycle(api: TestClient) -> None:
    created = api.post(URL, json=_body(), headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["attribution_window_seconds"] == 1800
    assert [e["name"] for e in api.get(URL, headers=ADMIN).json()["items"]] == ["exp1"]
    started = api.post(f"{URL}/exp1/start", headers=ADMIN)
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert started.json()["started_at"] is not None
    stopped = api.post(f"{URL}/exp1/stop", headers=ADMIN)
    assert stopped.json()["status"] == "stopped" and stopped.json()["stopped_at"] is not None
    again = api.post(f"{URL}/exp1/start", headers=ADMIN)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "status"
    assert api.get(f"{URL}/nope", headers=ADMIN).status_code == 404


def test_second_running_experiment_on_a_surface_is_refused_naming_it(api: TestClient) -> None:
    api.post(URL, json=_body("first"), headers=ADMIN)
    api.post(URL, json=_body("second"), headers=ADMIN)
    api.post(URL, json=_body("elsewhere", surface="search"), headers=ADMIN)
    assert api.post(f"{URL}/first/start", headers=ADMIN).status_code == 200
    conflict = api.post(f"{URL}/second/start", headers=ADMIN)
    assert conflict.status_code == 409
    assert "first" in conflict.json()["detail"] and conflict.json()["errors"][0]["field"] == "surface"
    assert api.post(f"{URL}/elsewhere/start", headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(variants=[{"name": "only", "deployment": "champion", "weight": 1}]), "variants"),
        (_body(variants=[{"name": "a", "deployment": "champion", "weight": 0},
                         {"name": "b", "deployment": "challenger", "weight": 1}]), "variants.0.weight"),
        (_body(variants=[{"name": "a", "deployment": "champion", "weight": 1},
                         {"name": "a", "deployment": "challenger", "weight": 1}]), "variants"),
        (_body(variants=[{"name": "a", "deployment": "champion", "weight": 1},
                         {"name": "b", "deployment": "theirs", "weight": 1}]), "variants.1.deployment"),
        (_body(name="Bad Name"), "name"),
        (_body(colour="red"), "colour"),
    ],
)  # fmt: skip
def test_invalid_experiments_are_4xx_naming_the_field(api: TestClient, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = api.post(URL, json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_duplicate_name_is_a_conflict(api: TestClient) -> None:
    assert api.post(URL, json=_body(), headers=ADMIN).status_code == 201
    duplicate = api.post(URL, json=_body(), headers=ADMIN)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "name"


def test_a_tenant_key_cannot_touch_another_tenants_experiments(api: TestClient) -> None:
    other_admin = create_key(api, ADMIN, "other", "admin")
    assert api.post(URL, json=_body(), headers=key_header(other_admin)).status_code == 403
    own_admin = create_key(api, ADMIN, "shop", "admin")
    assert api.post(URL, json=_body(), headers=key_header(own_admin)).status_code == 201
    reader = create_key(api, ADMIN, "shop", "recommendations:read")
    assert api.get(URL, headers=key_header(reader)).status_code == 403


def test_results_report_ctr_interval_and_significance(api: TestClient, database_url: str) -> None:
    api.post(URL, json=_body(), headers=ADMIN)
    empty = api.get(f"{URL}/exp1/results", headers=ADMIN).json()
    assert [v["impressions"] for v in empty["variants"]] == [0, 0]
    engine = build_engine(database_url)
    with transaction(session_factory(engine)) as s:
        exp_id = s.scalar(select(Experiment.id).where(Experiment.name == "exp1"))
        s.add(ExperimentVariantStats(experiment_id=exp_id, variant="control", impressions=2000, clicks=200))
        s.add(ExperimentVariantStats(experiment_id=exp_id, variant="treatment", impressions=2000, clicks=260))
    engine.dispose()
    results = api.get(f"{URL}/exp1/results", headers=ADMIN).json()
    control, treatment = results["variants"]
    assert results["control"] == "control" and control["is_control"] and control["p_value"] is None
    assert control["ctr"] == pytest.approx(0.10) and treatment["ctr"] == pytest.approx(0.13)
    assert control["ctr_ci_low"] < 0.10 < control["ctr_ci_high"]
    assert treatment["lift"] == pytest.approx(0.3)
    assert treatment["p_value"] == pytest.approx(0.0029, abs=3e-4) and treatment["significant"] is True


def test_update_changes_only_what_is_given_and_only_while_allowed(api: TestClient) -> None:
    api.post(URL, json=_body(), headers=ADMIN)
    variants = [
        {"name": "control", "deployment": "champion", "weight": 90},
        {"name": "treatment", "deployment": "challenger", "weight": 10},
    ]
    patched = api.patch(f"{URL}/exp1", json={"variants": variants}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert [v["weight"] for v in patched.json()["variants"]] == [90, 10]
    assert patched.json()["surface"] == "home" and patched.json()["attribution_window_seconds"] == 1800
    unknown = api.patch(
        f"{URL}/exp1", json={"variants": [*variants[:1], {**variants[1], "deployment": "x"}]}, headers=ADMIN
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "variants.1.deployment"
    api.post(f"{URL}/exp1/start", headers=ADMIN)
    frozen = api.patch(f"{URL}/exp1", json={"variants": variants}, headers=ADMIN)
    assert frozen.status_code == 409 and frozen.json()["errors"] == [
        {"field": "variants", "reason": "experiment is running"}
    ]
    window = api.patch(f"{URL}/exp1", json={"attribution_window_seconds": 600}, headers=ADMIN)
    assert window.status_code == 200 and window.json()["attribution_window_seconds"] == 600
    assert window.json()["status"] == "running"


def test_delete_refuses_a_running_experiment_and_removes_a_stopped_one(
    api: TestClient, database_url: str
) -> None:
    created = api.post(URL, json=_body(), headers=ADMIN).json()
    api.post(f"{URL}/exp1/start", headers=ADMIN)
    engine = build_engine(database_url)
    with transaction(session_factory(engine)) as s:
        s.add(ExperimentVariantStats(experiment_id=created["id"], variant="control", impressions=5, clicks=1))
    running = api.delete(f"{URL}/exp1", headers=ADMIN)
    assert running.status_code == 409 and running.json()["errors"][0]["field"] == "status"
    api.post(f"{URL}/exp1/stop", headers=ADMIN)
    assert api.delete(f"{URL}/exp1", headers=ADMIN).status_code == 204
    assert api.get(f"{URL}/exp1", headers=ADMIN).status_code == 404
    with session_factory(engine)() as s:
        assert s.scalars(select(ExperimentVariantStats)).all() == []
    engine.dispose()
    # the name is free again
    assert api.post(URL, json=_body(), headers=ADMIN).status_code == 201
