"""LocalProcessDeployer with REAL model-server processes serving a real saved artifact.

deploy -> ready -> predict -> the process is killed -> the supervisor restarts it on the
same endpoint -> predict works again -> undeploy stops it. Then the same through the
control-plane API, including a control-plane restart that restores the deployment.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from recsys_platform.deploy.local import LocalProcessDeployer
from recsys_platform.deploy.ports import DeploymentSpec, DeploymentStatus, predict_url
from recsys_platform.deploy.settings import DeployerSettings
from recsys_platform.deploy.tokens import MODEL_TOKEN_HEADER, deployment_token
from recsys_platform.settings import ControlPlaneSettings

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_tenant

pytestmark = pytest.mark.integration

#: The test artifact needs no online store: every request carries its history.
SERVER_ENV = {"RECSYS_MODEL_SERVER_ONLINE_FEATURES": "false", "RECSYS_MODEL_SERVER_ALIAS_POLL_SECONDS": "0"}


def settings_in(tmp_path: Path, **overrides: Any) -> DeployerSettings:
    return DeployerSettings(
        work_dir=str(tmp_path / "deployments"),
        env=SERVER_ENV,
        restart_backoff_seconds=0.2,
        supervise_interval_seconds=0.1,
        ready_timeout_seconds=90,
        **overrides,
    )


def predict(endpoint: str, name: str, token: str | None = None, **request: Any) -> dict[str, Any]:
    body = {"instances": [{"user_id": "u1", "history": ["i3", "i5"], "n": 5, **request}]}
    headers = {MODEL_TOKEN_HEADER: token} if token else {}
    r = httpx.post(predict_url(endpoint, name), json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    prediction: dict[str, Any] = r.json()["predictions"][0]
    return prediction


def wait_for(deployer: LocalProcessDeployer, state: str, timeout: float = 90) -> DeploymentStatus:
    deadline = time.monotonic() + timeout
    status = deployer.status("acme", "default")
    while time.monotonic() < deadline:
        status = deployer.status("acme", "default")
        if status.state == state:
            return status
        time.sleep(0.1)
    raise AssertionError(f"deployment never became {state}: {status}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[LocalProcessDeployer]:
    d = LocalProcessDeployer(settings_in(tmp_path))
    yield d
    d.close()


def test_deploy_predict_crash_restart_undeploy(
    deployer: LocalProcessDeployer, artifact: Path, tmp_path: Path
) -> None:
    status = deployer.deploy(DeploymentSpec("acme", "default", str(artifact), model_version="1"))
    assert status.state == "ready", status.message
    assert status.endpoint is not None
    first = predict(status.endpoint, "default")
    assert len(first["items"]) == 5
    assert first["model_name"] == "default"
    assert not {"i3", "i5"} & {i["item_id"] for i in first["items"]}  # seen items never come back

    pid = deployer.pid("acme", "default")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # a crash, not a shutdown
    wait_for(deployer, "restarting", timeout=10)
    again = wait_for(deployer, "ready")
    assert again.restarts == 1
    assert again.endpoint == status.endpoint  # the gateway's recorded endpoint stays valid
    new_pid = deployer.pid("acme", "default")
    assert new_pid is not None and new_pid != pid
    assert predict(again.endpoint, "default")["items"] == first["items"]

    log_text = (tmp_path / "deployments" / "acme" / "default.log").read_text()
    assert log_text.count("--- start") == 2  # one log file, both runs

    deployer.undeploy("acme", "default")
    assert not alive(new_pid)
    assert deployer.status("acme", "default").state == "stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{status.endpoint}/v2/health/ready", timeout=2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_model_that_cannot_load_fails_with_its_log(
    tmp_path: Path, make_client: AppFactory, mlflow_tracking_uri: str
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    overrides: dict[str, Any] = {
        "deployer": settings_in(tmp_path).model_dump(),
        "mlflow": {"tracking_uri": mlflow_tracking_uri, "provision": False},
        "training": {"enabled": False},
    }
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        base = f"/v1/tenants/{tenant}/deployments"
        r = client.post(base, json={"name": "broken", "model": {"uri": str(broken)}}, headers=ADMIN)
        assert r.status_code == 502, r.text
        detail = r.json()["detail"]
        assert "exited with code" in detail
        assert "manifest" in detail  # the model server's own reason, from its log
        assert client.get(base, headers=ADMIN).json()["items"] == []  # nothing recorded or running
        assert (tmp_path / "deployments" / tenant / "broken.log").exists()


# PostgreSQL is covered by the KServe-mode API tests; one database keeps this (slow) test short.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.filterwarnings("ignore:Add type hints to the `predict` method:UserWarning")
def test_the_mlflow_champion_served_locally_survives_a_control_plane_restart(
    artifact: Path, tmp_path: Path, make_client: AppFactory, mlflow_tracking_uri: str
) -> None:
    """The embedded flow end to end: the model server downloads the champion from MLflow;
    a restarted control plane starts the deployment again."""
    from recsys_platform.registry.mlflow_registry import MlflowModelRegistry
    from recsys_platform.registry.ports import Lineage

    registry = MlflowModelRegistry(mlflow_tracking_uri)
    overrides: dict[str, Any] = {
        "deployer": settings_in(tmp_path).model_dump(),
        "mlflow": {"tracking_uri": mlflow_tracking_uri, "provision": False},
        "training": {"enabled": False},
    }
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        lineage = Lineage(tenant, "run-1", "pipeline-1", "2026-11-01", "2026-11-27", "test")
        version = registry.register(tenant, artifact, {"ndcg_at_10": 0.1}, {}, lineage).version
        registry.promote(tenant, version)
    try:
        base = f"/v1/tenants/{tenant}/deployments"
        with make_client(**overrides) as client:
            r = client.post(base, json={"name": "default"}, headers=ADMIN)  # the champion alias
            assert r.status_code == 201, r.text
            created = r.json()
            assert (created["status"], created["mode"], created["resolved_version"]) == (
                "ready",
                "local",
                version,
            )
            assert created["model"] == {"alias": "champion", "version": None, "uri": None}
            assert created["model_uri"] == f"models:/recsys-{tenant}@champion"
            # the platform started it with the deployment's token: without it, 401
            no_token = httpx.post(
                predict_url(created["endpoint"], "default"), json={"instances": []}, timeout=10
            )
            assert no_token.status_code == 401
            token = deployment_token(
                ControlPlaneSettings().model_token_secret.get_secret_value(), tenant, "default"
            )
            prediction = predict(created["endpoint"], "default", token)
            assert prediction["model_version"] == version
            assert len(prediction["items"]) == 5
            r = client.post(base, json={"name": "canary", "canary_traffic_percent": 10}, headers=ADMIN)
            assert r.status_code == 422
            assert r.json()["errors"][0]["field"] == "canary_traffic_percent"
        # the control plane stopped: its model servers stopped with it
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{created['endpoint']}/v2/health/ready", timeout=2)

        with make_client(**overrides) as client:  # same database: the deployment is restored
            deadline = time.monotonic() + 90
            got = client.get(f"{base}/default", headers=ADMIN).json()
            while got["status"] != "ready" and time.monotonic() < deadline:
                time.sleep(0.2)
                got = client.get(f"{base}/default", headers=ADMIN).json()
            assert got["status"] == "ready", got
            assert predict(got["endpoint"], "default", token)["model_version"] == version
            assert client.delete(f"{base}/default", headers=ADMIN).status_code == 204
            assert client.get(base, headers=ADMIN).json()["items"] == []
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{got['endpoint']}/v2/health/ready", timeout=2)
    finally:
        registry.delete_registered_model(tenant)
