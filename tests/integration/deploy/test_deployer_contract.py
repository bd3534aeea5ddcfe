"""One contract for every Deployer adapter: local model-server processes (real processes,
real artifact) and KServe (real kubernetes client against the loopback API server, which
here plays KServe's controller and marks objects Ready)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.deploy.kserve import KServeDeployer
from recsys_platform.deploy.local import LocalProcessDeployer
from recsys_platform.deploy.ports import Deployer, DeploymentSpec, DeploymentStatus
from recsys_platform.deploy.settings import DeployerSettings

from tests.integration.deploy.fake_kube import fake_kube

pytestmark = pytest.mark.integration

SERVER_ENV = {"RECSYS_MODEL_SERVER_ONLINE_FEATURES": "false", "RECSYS_MODEL_SERVER_ALIAS_POLL_SECONDS": "0"}


@pytest.fixture(params=["local", "kserve"])
def deployer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployer]:
    if request.param == "local":
        local = LocalProcessDeployer(DeployerSettings(work_dir=str(tmp_path), env=SERVER_ENV))
        yield local
        local.close()
        return
    with fake_kube() as kube:
        kube.auto_ready = True
        config = kube.kubeconfig(tmp_path / "kubeconfig")
        kserve = KServeDeployer(DeployerSettings(mode="kserve", kubeconfig=str(config), context="fake"))
        yield kserve
        kserve.close()


def eventually_ready(deployer: Deployer, name: str, timeout: float = 90) -> DeploymentStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = deployer.status("acme", name)
        if status.state == "ready" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_deploy_roll_out_undeploy(deployer: Deployer, artifact: Path) -> None:
    assert deployer.list("acme") == []
    assert deployer.status("acme", "default").state == "stopped"

    first = deployer.deploy(DeploymentSpec("acme", "default", str(artifact), model_version="1"))
    assert first.state in {"pending", "ready"}
    ready = eventually_ready(deployer, "default")
    assert (ready.state, ready.model_version) == ("ready", "1")
    assert ready.endpoint and ready.endpoint.startswith("http://")
    assert [s.name for s in deployer.list("acme")] == ["default"]
    assert deployer.list("globex") == []  # tenants never see each other's deployments

    deployer.deploy(DeploymentSpec("acme", "default", str(artifact), model_version="2"))  # roll out
    rolled = eventually_ready(deployer, "default")
    assert (rolled.state, rolled.model_version) == ("ready", "2")
    assert [s.model_version for s in deployer.list("acme")] == ["2"]  # replaced, not added

    deployer.undeploy("acme", "default")
    assert deployer.status("acme", "default").state == "stopped"
    assert deployer.list("acme") == []
    deployer.undeploy("acme", "default")  # already gone: no error
