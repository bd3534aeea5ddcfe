"""KServe's own controller (RawDeployment mode) against the real API server.

``scripts/tools/install-kserve-controller.sh`` builds the controller manager of KServe v0.15.0
from its Go module (cached in ``.cache/kserve``); it runs here with the admin kubeconfig, the
``inferenceservice-config`` ConfigMap of that version set to ``RawDeployment``, and reconciles an
InferenceService the deployer creates (with the chart's ServingRuntime and RBAC) into the
Deployment, Service and HPA a cluster would run. No pod starts (no kubelet), so Ready stays
False ("Predictor ingress not created": no ingress is configured).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from recsys_platform.deploy.kserve import KServeDeployer
from recsys_platform.deploy.ports import DeploymentSpec, ResourceBounds
from recsys_platform.deploy.settings import DeployerSettings

from tests.kube import CHART, ROOT, Helm, Kube, fullname, tenant_values, unique, wait_for
from tests.services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kserve_controller(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    script = ROOT / "scripts" / "tools" / "install-kserve-controller.sh"
    built = subprocess.run([str(script)], capture_output=True, text=True, timeout=3600, check=False)
    if built.returncode != 0:
        pytest.fail(
            f"could not build the KServe controller with {script}:\n{built.stderr[-3000:]}", pytrace=False
        )
    home = Path(built.stdout.strip().splitlines()[-1])
    crds = kube.dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for path in sorted((home / "config" / "crd" / "full").glob("serving.kserve.io_*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", doc["metadata"]["name"]) is None:
            crds.create(body=doc)  # the ones not vendored; the vendored (newer) four stay
    try:
        kube.create_namespace("kserve")
    except ApiException as exc:
        assert exc.status == 409
    config = yaml.safe_load((home / "config" / "configmap" / "inferenceservice.yaml").read_text())
    deploy = json.loads(config["data"]["deploy"])
    deploy["defaultDeploymentMode"] = "RawDeployment"
    config["data"]["deploy"] = json.dumps(deploy)
    config["metadata"] = {"name": config["metadata"]["name"], "namespace": "kserve"}
    try:
        kube.core.delete_namespaced_config_map(config["metadata"]["name"], "kserve")
    except ApiException as exc:
        assert exc.status == 404
    kube.core.create_namespaced_config_map("kserve", config)
    # the webhook server wants a certificate in $TMPDIR/k8s-webhook-server/serving-certs
    tmp = tmp_path_factory.mktemp("kserve")
    certs = tmp / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(certs / "tls.key"),
            "-out",
            str(certs / "tls.crt"),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    probe = free_port()
    log = tmp / "manager.log"
    with open(log, "wb") as out:
        manager = subprocess.Popen(
            [
                str(home / "manager"),
                "-kubeconfig",
                kube.kubeconfig,
                "-metrics-addr",
                f"127.0.0.1:{free_port()}",
                "-health-probe-addr",
                f"127.0.0.1:{probe}",
                "-webhook-port",
                str(free_port()),
            ],
            env={**os.environ, "POD_NAMESPACE": "kserve", "TMPDIR": str(tmp)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert manager.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{probe}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"KServe controller not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield
    finally:
        manager.terminate()
        try:
            manager.wait(timeout=30)
        except subprocess.TimeoutExpired:
            manager.kill()
            manager.wait(timeout=10)


def test_kserve_reconciles_a_deployment_into_the_model_server_workload(
    kube: Kube, helm: Helm, kserve_controller: None, tmp_path: Path
) -> None:
    ns, release, tenant = unique("recsys"), unique("recsys"), unique("acme")
    kube.create_namespace(ns)
    helm.ok("install", release, str(CHART), "--namespace", ns, "--no-hooks", *tenant_values(tenant))
    try:
        kubeconfig = kube.service_account_kubeconfig(
            tmp_path / "cp", ns, f"{fullname(release)}-control-plane"
        )
        deployer = KServeDeployer(DeployerSettings(mode="kserve", kubeconfig=str(kubeconfig)))
        spec = DeploymentSpec(
            tenant_id=tenant,
            name="default",
            model_uri=f"models:/recsys-{tenant}@champion",
            model_version=None,
            storage_uri=None,
            requests=ResourceBounds("500m", "1Gi"),
            limits=ResourceBounds("2", "2Gi"),
        )
        assert deployer.deploy(spec).state == "pending"
        tenant_ns = f"recsys-{tenant}"
        apps = kube.apps

        def reconciled() -> list[client.V1Deployment]:
            return list(apps.list_namespaced_deployment(tenant_ns).items)

        (deployment,) = wait_for(reconciled, timeout=120, what="KServe to create the predictor Deployment")
        assert deployment.metadata.name == "default-predictor"
        assert deployment.metadata.owner_references[0].kind == "InferenceService"
        pod = deployment.spec.template.spec
        (container,) = pod.containers
        assert container.image.endswith("/recsys-model-server:0.1.0")
        assert container.command == ["python", "-m", "recsys_model_servers"]
        assert container.args == ["--name=default", "--http-port=8080"]  # {{.Name}} substituted by KServe
        env = {e.name: e for e in container.env}
        assert env["RECSYS_MODEL_SERVER_MODEL_URI"].value == f"models:/recsys-{tenant}@champion"
        assert env["RECSYS_MODEL_SERVER_TENANT_ID"].value == tenant
        secret = env["RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL"].value_from.secret_key_ref
        assert (secret.name, secret.key) == (f"{fullname(release)}-model-server", "feature-store-redis-url")
        assert kube.core.read_namespaced_secret(secret.name, tenant_ns).data[secret.key]
        assert container.resources.requests == {"cpu": "500m", "memory": "1Gi"}
        assert container.resources.limits == {"cpu": "2", "memory": "2Gi"}
        assert container.readiness_probe.http_get.path == "/v2/health/ready"
        assert (
            container.security_context.run_as_non_root
            and container.security_context.read_only_root_filesystem
        )
        assert kube.core.read_namespaced_service("default-predictor", tenant_ns).spec.ports[0].port == 80

        # the controller writes the status; the deployer reads it (no ingress here: not ready)
        def with_status() -> object:
            status = deployer.status(tenant, "default")
            return status if status.message else None

        status = wait_for(with_status, timeout=60, what="KServe to write the InferenceService status")
        assert status.state == "pending"
        assert "Predictor ingress not created" in status.message
        deployer.undeploy(tenant, "default")
        deployer.close()
    finally:
        helm.run("uninstall", release, "--namespace", ns)
