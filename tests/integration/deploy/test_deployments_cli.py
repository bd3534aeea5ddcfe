"""``recsys deployments`` against a live control plane (KServe mode, loopback Kubernetes API)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from recsys_platform.cli import deployments as deployments_cli
from recsys_platform.cli.main import app
from recsys_platform.client import ControlPlaneClient
from typer.testing import CliRunner

from tests.conftest import AppFactory
from tests.factories import ADMIN, ADMIN_TOKEN, create_tenant
from tests.integration.deploy.fake_kube import fake_kube
from tests.integration.helm import kserve_crd

pytestmark = pytest.mark.integration
runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_create_list_update_delete_through_the_cli(
    make_client: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_kube() as kube:
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
        deployer = {"mode": "kserve", "kubeconfig": str(kubeconfig), "context": "fake"}
        with make_client(deployer=deployer, training={"enabled": False}) as http:
            tenant = create_tenant(http, ADMIN)["id"]

            @contextmanager
            def live(url: str, token: str) -> Iterator[ControlPlaneClient]:
                assert token == ADMIN_TOKEN
                yield ControlPlaneClient(token=token, http=http)

            monkeypatch.setattr(deployments_cli, "client", live)
            common = ["--token", ADMIN_TOKEN]
            result = runner.invoke(
                app,
                [
                    "deployments",
                    "create",
                    tenant,
                    "default",
                    "--uri",
                    "s3://models/a/1",
                    "--cpu",
                    "500m",
                    "--memory",
                    "1Gi",
                    "--max-replicas",
                    "3",
                    *common,
                ],
            )
            assert result.exit_code == 0, result.output
            assert "deployment/default pending" in plain(result.output)
            predictor = kube.objects[(f"recsys-{tenant}", "default")]["spec"]["predictor"]
            assert predictor["model"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
            assert predictor["maxReplicas"] == 3

            result = runner.invoke(
                app,
                [
                    "deployments",
                    "update",
                    tenant,
                    "default",
                    "--uri",
                    "s3://models/a/2",
                    "--canary",
                    "25",
                    *common,
                ],
            )
            assert result.exit_code == 0, result.output
            predictor = kube.objects[(f"recsys-{tenant}", "default")]["spec"]["predictor"]
            assert predictor["canaryTrafficPercent"] == 25
            # what was not given stays: resources and replicas of the create
            assert predictor["model"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
            assert predictor["maxReplicas"] == 3

            result = runner.invoke(
                app, ["deployments", "update", tenant, "default", "--max-replicas", "5", *common]
            )
            assert result.exit_code == 0, result.output
            predictor = kube.objects[(f"recsys-{tenant}", "default")]["spec"]["predictor"]
            assert predictor["maxReplicas"] == 5
            assert predictor["model"]["storageUri"] == "s3://models/a/2"  # not back to @champion
            assert predictor["model"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
            assert predictor["canaryTrafficPercent"] == 25
            nothing = runner.invoke(app, ["deployments", "update", tenant, "default", *common])
            assert nothing.exit_code == 2 and "nothing to change" in plain(nothing.output)

            result = runner.invoke(app, ["deployments", "list", tenant, *common])
            assert result.exit_code == 0, result.output
            assert "default" in result.output and "pending" in result.output

            result = runner.invoke(
                app, ["deployments", "create", tenant, "Bad_Name", "--uri", "s3://x", *common]
            )
            assert result.exit_code == 1
            assert "name" in plain(result.output)

            refused = runner.invoke(app, ["deployments", "delete", tenant, "default", *common])
            assert refused.exit_code == 2 and "--yes" in plain(refused.output)  # no terminal to ask
            assert (f"recsys-{tenant}", "default") in kube.objects
            result = runner.invoke(app, ["deployments", "delete", tenant, "default", "--yes", *common])
            assert result.exit_code == 0, result.output
            assert (f"recsys-{tenant}", "default") not in kube.objects


def test_manifest_prints_a_valid_inference_service() -> None:
    result = runner.invoke(
        app,
        [
            "deployments",
            "manifest",
            "acme",
            "default",
            "--storage-uri",
            "gs://models/acme/3",
            "--canary",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    kserve_crd.assert_valid(manifest)
    assert manifest["spec"]["predictor"]["model"]["storageUri"] == "gs://models/acme/3"
    bad = runner.invoke(app, ["deployments", "manifest", "acme", "default", "--canary", "500"])
    assert bad.exit_code != 0
    assert "canary_traffic_percent" in plain(bad.output)


def test_cluster_lists_inference_services_with_a_kubeconfig_context(tmp_path: Path) -> None:
    with fake_kube() as kube:
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
        kube.objects[("recsys-acme", "default")] = {
            "metadata": {
                "name": "default",
                "labels": {"recsys.io/tenant": "acme", "recsys.io/model-version": "3"},
            },
            "status": {
                "url": "http://default.acme.example.com",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        result = runner.invoke(
            app, ["deployments", "cluster", "acme", "--kubeconfig", str(kubeconfig), "--context", "fake"]
        )
        assert result.exit_code == 0, result.output
        out = plain(result.output)
        assert "default" in out and "ready" in out and "http://default.acme.example.com" in out
        assert kube.calls[-1].headers["authorization"] == "Bearer test-token"
