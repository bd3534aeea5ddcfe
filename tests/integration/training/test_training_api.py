"""Training through the API: kfp.local pipeline, the real MLflow registry, the promotion gate."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from recsys_platform.control_plane.app import create_app
from recsys_platform.errors import NotFound
from recsys_platform.offline.parquet_store import OfflineEvent
from recsys_platform.recommenders.artifact import load_model
from recsys_platform.training.progress import FAIL_STAGE_ENV

from tests.factories import ADMIN, ADMIN_TOKEN
from tests.integration.training.harness import FAST_MODEL, TOPICS, TrainingEnv, training_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::UserWarning:kfp.*", "ignore::RuntimeWarning:kfp.*"),
]


@pytest.fixture(scope="module")
def training_env(tmp_path_factory: pytest.TempPathFactory, mlflow_tracking_uri: str) -> Iterator[TrainingEnv]:
    tmp = tmp_path_factory.mktemp("training")
    settings = training_settings(tmp, mlflow_tracking_uri)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield TrainingEnv(client, settings, tmp)


@pytest.fixture(scope="module")
def champion_tenant(training_env: TrainingEnv) -> tuple[str, dict[str, Any]]:
    """A tenant with data whose first run registered (and promoted) version 1."""
    tenant = training_env.new_tenant()
    training_env.seed(tenant)
    return tenant, training_env.train(tenant)


def test_first_run_registers_a_champion_with_lineage_and_a_loadable_artifact(
    training_env: TrainingEnv, champion_tenant: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    env = training_env
    tenant, first = champion_tenant
    assert first["status"] == "succeeded", first["error"]
    assert first["model_version"] == "1"
    assert first["promoted"] is True
    # promoted because it beats popularity on a hold-out it can reach, and the run says so
    assert first["gate"]["rule"] == "first_model"
    assert first["gate"]["reason"].startswith("first model of the tenant: ndcg_at_10 ")
    metrics = first["metrics"]
    assert 0.0 < metrics["ndcg_at_10"] <= 1.0
    assert metrics["ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]
    assert metrics["holdout_reachability"] >= 0.5 and metrics["holdout_reachable_users"] >= 10
    assert metrics["holdout_events"] > 0 and metrics["holdout_users"] >= metrics["holdout_reachable_users"]
    assert first["data_window"]["start"].startswith("2026-11-")
    assert first["pipeline_run_id"]

    models = env.models(tenant)
    assert models["champion"] == "1" and models["challenger"] == "1"
    tags = models["items"][0]["tags"]
    assert tags["recsys.tenant"] == tenant
    assert tags["recsys.training_run_id"] == first["id"]
    assert tags["recsys.pipeline_run_id"].startswith("recsys-training")
    assert tags["recsys.data_window_start"] == first["data_window"]["start"]
    assert tags["recsys.code_version"].startswith("0.")
    assert tags["recsys.gate"] == first["gate"]["reason"]
    assert tags["recsys.gate_rule"] == "first_model"

    # the registered artifact is the model: download it and recommend from it
    registry = env.client.app.state.training.registry  # type: ignore[attr-defined]
    model = load_model(registry.download(tenant, "champion", tmp_path / "champion"))
    recommended = [s.item_id for s in model.recommend(["sport-1", "sport-2", "sport-3"], n=5)]
    assert len(recommended) == 5 and "sport-1" not in recommended


def test_empty_tenant_fails_with_the_reason(training_env: TrainingEnv) -> None:
    tenant = training_env.new_tenant()
    run = training_env.train(tenant)
    assert run["status"] == "failed"
    assert run["stage"] == "load_data"
    assert "no usable events" in run["error"]
    assert training_env.models(tenant)["items"] == []


def test_too_little_data_fails_and_names_what_is_missing(training_env: TrainingEnv) -> None:
    tenant = training_env.new_tenant()
    training_env.seed(tenant, users=1, events_per_user=5)
    run = training_env.train(tenant)
    assert run["status"] == "failed"
    assert "too little data" in run["error"]
    assert "5 usable events, at least 20 needed" in run["error"]
    assert "1 distinct users" in run["error"]


def test_content_model_required_but_catalog_has_no_text(training_env: TrainingEnv) -> None:
    schema = {"fields": [{"name": "category", "type": "string"}]}
    tenant = training_env.new_tenant(catalog_schema=schema)
    training_env.seed(tenant, with_text=False)
    run = training_env.train(tenant, require_content=True)
    assert run["status"] == "failed"
    assert "no catalog item has text" in run["error"]
    assert training_env.models(tenant)["champion"] is None


def test_a_failing_step_after_registration_leaves_champion_and_no_version(
    training_env: TrainingEnv, champion_tenant: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = training_env
    tenant, _ = champion_tenant
    before = env.models(tenant)

    monkeypatch.setenv(FAIL_STAGE_ENV, "register")  # the step fails after its version exists
    run = env.train(tenant)
    assert run["status"] == "failed"
    assert run["stage"] == "register"
    assert "failed on purpose" in run["error"]
    assert run["model_version"] is None
    after = env.models(tenant)
    assert [v["version"] for v in after["items"]] == [v["version"] for v in before["items"]]
    assert after["champion"] == before["champion"]


def test_bad_params_are_refused_with_the_field(training_env: TrainingEnv) -> None:
    tenant = training_env.new_tenant()
    response = training_env.client.post(
        f"/v1/tenants/{tenant}/training-runs", json={"params": {"holdout_fraction": 2}}, headers=ADMIN
    )
    assert response.status_code == 422
    assert "holdout_fraction" in response.text
    response = training_env.client.post(
        f"/v1/tenants/{tenant}/training-runs", json={"params": {"epochs": 3}}, headers=ADMIN
    )
    assert response.status_code == 422
    assert "epochs" in response.text


@pytest.fixture(scope="module")
def live_url(training_env: TrainingEnv) -> Iterator[str]:
    """The module's app served over real HTTP (its lifespan already runs in the TestClient)."""
    import threading

    import uvicorn

    from tests.services import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            training_env.client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_equal_run_through_the_cli_stays_challenger_then_promote_and_rollback(
    training_env: TrainingEnv, champion_tenant: tuple[str, dict[str, Any]], live_url: str, tmp_path: Path
) -> None:
    """``recsys train`` on unchanged data: the gate keeps the champion; promote/rollback move it."""
    from recsys_platform.cli.main import app
    from typer.testing import CliRunner

    env = training_env
    tenant, first = champion_tenant
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"model": FAST_MODEL}))
    runner = CliRunner()
    common = ["--url", live_url, "--token", ADMIN_TOKEN]
    result = runner.invoke(app, ["train", tenant, "--params", str(params), *common])
    assert result.exit_code == 0, result.output
    assert "registered, kept as challenger" in result.output
    assert "needs an improvement" in result.output  # the gate's reason, shown by the CLI
    assert "✓ register" in result.output

    second = env.client.get(f"/v1/tenants/{tenant}/training-runs", headers=ADMIN).json()["items"][0]
    assert second["status"] == "succeeded" and second["promoted"] is False
    new = second["model_version"]
    assert int(new) > 1 and f"model version {new} registered" in result.output
    assert "needs an improvement" in second["gate"]["reason"]
    assert second["gate"]["rule"] == "no_improvement"
    assert second["metrics"]["champion_ndcg_at_10"] == pytest.approx(first["metrics"]["ndcg_at_10"], abs=0.05)
    models = env.models(tenant)
    assert (models["champion"], models["challenger"]) == ("1", new)

    listed = runner.invoke(app, ["models", "list", tenant, *common])
    assert listed.exit_code == 0, listed.output
    assert "champion" in listed.output and new in listed.output

    # forced promotion and one-call rollback, through the API and through the CLI
    promoted = env.client.post(f"/v1/tenants/{tenant}/models/champion", json={"version": new}, headers=ADMIN)
    assert promoted.status_code == 200, promoted.text
    assert "champion" in promoted.json()["aliases"]
    assert env.models(tenant)["champion"] == new
    rolled = env.client.post(f"/v1/tenants/{tenant}/models/champion/rollback", headers=ADMIN)
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] == "1"
    assert env.models(tenant)["champion"] == "1"
    assert runner.invoke(app, ["models", "promote", tenant, new, *common]).exit_code == 0
    assert env.models(tenant)["champion"] == new
    assert runner.invoke(app, ["models", "rollback", tenant, *common]).exit_code == 0
    assert env.models(tenant)["champion"] == "1"

    history = env.client.get(f"/v1/tenants/{tenant}/training-runs", headers=ADMIN).json()["items"]
    by_id = {r["id"]: r for r in history}
    assert by_id[first["id"]]["metrics"]["ndcg_at_10"] == first["metrics"]["ndcg_at_10"]

    failed = runner.invoke(app, ["train", env.new_tenant(), *common])
    assert failed.exit_code == 1
    assert "no usable events" in failed.output


def test_a_same_recipe_retrain_on_newer_data_replaces_the_champion(
    training_env: TrainingEnv, champion_tenant: tuple[str, dict[str, Any]]
) -> None:
    """One new event per user after the champion's window: the champion saw most of the new
    run's hold-out, so its recipe (the same config) is compared at the same cut: a refresh."""
    env = training_env
    tenant, _ = champion_tenant
    rng = random.Random(11)
    later = datetime(2026, 11, 12, tzinfo=UTC)
    events = [
        OfflineEvent(
            event_id=f"later-{u}",
            user_id=f"user-{u}",
            item_id=f"{list(TOPICS)[u % len(TOPICS)]}-{rng.randrange(10)}",
            type="click",
            timestamp=later + timedelta(minutes=u),
            received_at=later + timedelta(minutes=u),
        )
        for u in range(40)
    ]
    env.write_events(tenant, events)
    before = env.models(tenant)["champion"]
    run = env.train(tenant)
    assert run["status"] == "succeeded", run["error"]
    assert run["promoted"] is True, run["gate"]
    assert run["gate"]["rule"] == "refresh"
    assert f"same recipe as champion {before} on newer data" in run["gate"]["reason"]
    assert run["metrics"]["champion_ndcg_at_10"] == pytest.approx(run["metrics"]["ndcg_at_10"])
    assert env.models(tenant)["champion"] == run["model_version"] != before


def test_a_hold_out_of_unseen_items_promotes_nothing_and_says_why(training_env: TrainingEnv) -> None:
    """The last fifth of the events are on items published after everything else: no batch
    model can be judged on them, so the first model is registered but not made champion. With
    the streaming blend (the default) the same hold-out is judged on the served replay, where
    trending and session signals do reach the breaking items."""
    env = training_env
    tenant = env.new_tenant()
    env.seed(tenant)
    env.import_items(
        tenant, [{"item_id": f"breaking-{i}", "title": f"breaking story {i}"} for i in range(10)]
    )
    later = datetime(2026, 11, 12, tzinfo=UTC)
    # 200 clicks after the 600 seeded ones; the hold-out (last 160) is on items 2-9, which
    # nobody clicked before the cut (items 0-1 take the first 40)
    env.write_events(
        tenant,
        [
            OfflineEvent(
                event_id=f"breaking-{j}",
                user_id=f"user-{j % 40}",
                item_id=f"breaking-{j // 20}",
                type="click",
                timestamp=later + timedelta(minutes=j),
                received_at=later + timedelta(minutes=j),
            )
            for j in range(200)
        ],
    )
    run = env.train(tenant, stream_blend=False)
    assert run["status"] == "succeeded", run["error"]
    assert (run["model_version"], run["promoted"]) == ("1", False), run["gate"]
    assert run["gate"]["rule"] == "holdout_not_meaningful"
    assert run["gate"]["reason"].startswith("hold-out not meaningful: only 0% of its interactions")
    assert "no champion yet: kept as challenger" in run["gate"]["reason"]
    assert run["metrics"]["holdout_reachability"] == 0.0
    assert run["metrics"]["holdout_reachable_users"] == 0.0
    assert (env.models(tenant)["champion"], env.models(tenant)["challenger"]) == (None, "1")

    served = env.train(tenant)
    assert served["status"] == "succeeded", served["error"]
    assert served["gate"]["rule"] != "holdout_not_meaningful", served["gate"]
    metrics = served["metrics"]
    assert metrics["served_replay"] == 1.0 and metrics["batch_holdout_reachability"] == 0.0
    assert metrics["holdout_reachability"] >= 0.5


def test_purging_a_tenant_deletes_its_registered_model(training_env: TrainingEnv) -> None:
    env = training_env
    tenant = env.new_tenant()
    registry = env.client.app.state.training.registry  # type: ignore[attr-defined]
    assert registry.list_versions(tenant) == []  # the provisioner created the registered model
    assert env.client.delete(f"/v1/tenants/{tenant}", headers=ADMIN).status_code == 200
    with pytest.raises(NotFound):
        registry.list_versions(tenant)


def test_schedule_put_get_due_run_and_delete(training_env: TrainingEnv) -> None:
    env = training_env
    tenant = env.new_tenant()
    url = f"/v1/tenants/{tenant}/training-schedule"
    assert env.client.get(url, headers=ADMIN).status_code == 404
    bad = env.client.put(url, json={"interval_minutes": 0}, headers=ADMIN)
    assert bad.status_code == 422 and "interval_minutes" in bad.text

    put = env.client.put(url, json={"interval_minutes": 60, "params": {"min_events": 50}}, headers=ADMIN)
    assert put.status_code == 200, put.text
    schedule = put.json()
    assert schedule["interval_minutes"] == 60 and schedule["params"] == {"min_events": 50}
    assert env.client.get(url, headers=ADMIN).json() == schedule

    scheduler = env.client.app.state.training.scheduler  # type: ignore[attr-defined]
    assert scheduler.tick() == []  # not due yet
    due = datetime.fromisoformat(schedule["next_run_at"]) + timedelta(seconds=1)
    (run_id,) = scheduler.tick(at=due)
    assert scheduler.tick(at=due) == []  # claimed once
    run = env.wait(tenant, run_id)
    assert (run["trigger"], run["params"]) == ("schedule", {"min_events": 50})
    assert run["status"] == "failed" and "no usable events" in run["error"]
    after = env.client.get(url, headers=ADMIN).json()
    assert after["last_run_id"] == run_id
    assert datetime.fromisoformat(after["next_run_at"]) == due + timedelta(minutes=60)

    assert env.client.delete(url, headers=ADMIN).status_code == 204
    assert env.client.get(url, headers=ADMIN).status_code == 404


def test_unknown_tenant_run_and_version_are_404(training_env: TrainingEnv) -> None:
    env = training_env
    assert env.client.post("/v1/tenants/nope-nope/training-runs", headers=ADMIN).status_code == 404
    tenant = env.new_tenant()
    assert env.client.get(f"/v1/tenants/{tenant}/training-runs/tr-x", headers=ADMIN).status_code == 404
    missing = env.client.post(f"/v1/tenants/{tenant}/models/champion", json={"version": "7"}, headers=ADMIN)
    assert missing.status_code == 404
    rollback = env.client.post(f"/v1/tenants/{tenant}/models/champion/rollback", headers=ADMIN)
    assert rollback.status_code == 409
    assert env.client.get(f"/v1/tenants/{tenant}/models").status_code == 401
