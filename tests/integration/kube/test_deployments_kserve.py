"""The control plane's deployments API in ``kserve`` mode against a real API server.

The chart is installed (``--no-hooks``) for a tenant; the control plane uses the control-plane
ServiceAccount's own token (TokenRequest), so the RBAC it works with is the chart's. The
InferenceServices are real objects validated by KServe's CRD; nothing reconciles them, so the
tests write the status subresource as KServe's controller does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes.client.exceptions import ApiException

from tests.factories import ADMIN, ADMIN_TOKEN, create_tenant
from tests.kube import CHART, Helm, Kube, fullname, tenant_values, unique

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
READY = {
    "url": "http://default-{ns}.example.com",
    "address": {"url": "http://default-predictor.{ns}.svc.cluster.local"},
    "conditions": [
        {"type": "PredictorReady", "status": "True", "lastTransitionTime": "2026-12-08T00:00:00Z"},
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-08T00:00:00Z"},
    ],
}


@dataclass
class Platform:
    namespace: str
    release: str
    tenant: str
    kubeconfig: Path  # the control-plane ServiceAccount's credentials

    @property
    def tenant_ns(self) -> str:
        return f"recsys-{self.tenant}"


@pytest.fixture(scope="module")
def platform(kube: Kube, helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    ns, release, tenant = unique("recsys"), unique("recsys"), unique("acme")
    kube.create_namespace(ns)
    helm.ok("install", release, str(CHART), "--namespace", ns, "--no-hooks", *tenant_values(tenant))
    path = tmp_path_factory.mktemp("sa") / "control-plane.kubeconfig"
    kube.service_account_kubeconfig(path, ns, f"{fullname(release)}-control-plane")
    yield Platform(ns, release, tenant, path)
    helm.run("uninstall", release, "--namespace", ns)


def control_plane(platform: Platform, tmp_path: Path, mlflow_uri: str, **deployer: Any) -> TestClient:
    from recsys_platform.control_plane.app import create_app
    from recsys_platform.settings import ControlPlaneSettings

    settings = ControlPlaneSettings(
        admin_token=ADMIN_TOKEN,
        database={"url": f"sqlite:///{tmp_path / 'cp.db'}"},
        event_log={"sqlite_path": str(tmp_path / "events.db")},
        provision_feature_store=False,
        mlflow={"tracking_uri": mlflow_uri, "provision": False},
        training={"enabled": False},
        deployer={
            "mode": "kserve",
            "kubeconfig": str(platform.kubeconfig),
            "request_timeout_seconds": 10,
            **deployer,
        },
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def isvc(kube: Kube, ns: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def write_status(kube: Kube, ns: str, name: str, status: dict[str, Any]) -> None:
    """What KServe's controller does: write ``.status`` through the status subresource."""
    kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name, {"status": status})


BODY = {
    "name": "default",
    "model": {"uri": "s3://models/acme/3"},
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
    "min_replicas": 1,
    "max_replicas": 3,
}


def test_create_canary_promote_list_and_delete_real_inference_services(
    kube: Kube, platform: Platform, tmp_path: Path, mlflow_tracking_uri: str
) -> None:
    ns = platform.tenant_ns
    with control_plane(platform, tmp_path, mlflow_tracking_uri) as client:
        create_tenant(client, ADMIN, id=platform.tenant)
        base = f"/v1/tenants/{platform.tenant}/deployments"
        r = client.post(base, json=BODY, headers=ADMIN)
        assert r.status_code == 201, r.text
        assert (r.json()["status"], r.json()["mode"]) == ("pending", "kserve")
        stored = isvc(kube, ns, "default")
        assert stored is not None
        predictor = stored["spec"]["predictor"]
        assert predictor["model"]["storageUri"] == "s3://models/acme/3"
        assert predictor["model"]["runtime"] == "recsys-model-server"  # the chart's ServingRuntime there
        assert kube.get("serving.kserve.io/v1alpha1", "ServingRuntime", predictor["model"]["runtime"], ns)
        assert predictor["model"]["resources"] == BODY["resources"]
        assert stored["metadata"]["labels"]["recsys.io/tenant"] == platform.tenant
        assert stored["metadata"]["generation"] == 1

        # a status written into the main resource is ignored by the API server ...
        kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "default", {"status": {"url": "http://nope"}}
        )
        assert client.get(f"{base}/default", headers=ADMIN).json()["status"] == "pending"
        # ... the controller writes the status subresource
        write_status(
            kube,
            ns,
            "default",
            {
                **READY,
                "url": READY["url"].format(ns=ns),
                "address": {"url": READY["address"]["url"].format(ns=ns)},
            },
        )
        got = client.get(f"{base}/default", headers=ADMIN).json()
        assert got["status"] == "ready"
        assert (
            got["predict_url"] == f"http://default-predictor.{ns}.svc.cluster.local/v1/models/default:predict"
        )

        rollout = {k: v for k, v in BODY.items() if k != "name"}
        rollout.update(canary_traffic_percent=10, model={"uri": "s3://models/acme/4"})
        r = client.put(f"{base}/default", json=rollout, headers=ADMIN)
        assert r.status_code == 200, r.text
        stored = isvc(kube, ns, "default")
        assert stored is not None
        assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 10
        assert stored["spec"]["predictor"]["model"]["storageUri"] == "s3://models/acme/4"
        assert stored["metadata"]["generation"] == 2
        promote = {**rollout, "canary_traffic_percent": None}
        assert client.put(f"{base}/default", json=promote, headers=ADMIN).status_code == 200
        stored = isvc(kube, ns, "default")
        assert stored is not None
        assert "canaryTrafficPercent" not in stored["spec"]["predictor"]  # all traffic to the new model

        # the controller reports a failure: the API says so, with the controller's reason
        write_status(
            kube,
            ns,
            "default",
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "InvalidSpec",
                        "message": "runtime does not support",
                        "lastTransitionTime": "2026-12-08T00:00:01Z",
                    }
                ]
            },
        )
        failed = client.get(f"{base}/default", headers=ADMIN).json()
        assert failed["status"] == "failed"

        assert [d["name"] for d in client.get(base, headers=ADMIN).json()["items"]] == ["default"]
        assert client.delete(f"{base}/default", headers=ADMIN).status_code == 204
        assert isvc(kube, ns, "default") is None
        assert client.get(f"{base}/default", headers=ADMIN).status_code == 404


def test_real_server_refusals_are_clear_api_errors(
    kube: Kube, platform: Platform, tmp_path: Path, mlflow_tracking_uri: str
) -> None:
    ns = platform.tenant_ns
    with control_plane(platform, tmp_path, mlflow_tracking_uri) as client:
        create_tenant(client, ADMIN, id=platform.tenant)
        # 403: a tenant the chart was not installed for has no namespace and no RoleBinding
        stranger = unique("stranger")
        create_tenant(client, ADMIN, id=stranger)
        r = client.post(f"/v1/tenants/{stranger}/deployments", json=BODY, headers=ADMIN)
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        # the deployer guards the namespace first (a NetworkPolicy), and that is what is refused
        assert "Kubernetes refused to create NetworkPolicy 'recsys-model-servers-from-gateway'" in detail
        assert (
            'cannot create resource "networkpolicies" in API group "networking.k8s.io" '
            f'in the namespace "recsys-{stranger}"' in detail
        )
        assert client.get(f"/v1/tenants/{stranger}/deployments", headers=ADMIN).json()["items"] == []

        # 409: an InferenceService still held by KServe's finalizer after a delete
        kube.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "InferenceService",
                "metadata": {"name": "dying", "finalizers": ["inferenceservice.finalizers"]},
                "spec": {"predictor": {"model": {"modelFormat": {"name": "recsys"}}}},
            },
        )
        kube.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "dying")
        try:
            r = client.post(
                f"/v1/tenants/{platform.tenant}/deployments", json={**BODY, "name": "dying"}, headers=ADMIN
            )
            assert r.status_code == 409, r.text
            assert "'dying'" in r.json()["detail"] and "still being deleted" in r.json()["detail"]
            assert (
                client.get(f"/v1/tenants/{platform.tenant}/deployments", headers=ADMIN).json()["items"] == []
            )
        finally:
            kube.custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, "dying", {"metadata": {"finalizers": None}}
            )
    # 422: the API server refuses what no schema of ours checks (an operator's bad annotation key)
    with control_plane(
        platform, tmp_path / "bad", mlflow_tracking_uri, annotations={"bad key!": "x"}
    ) as client:
        create_tenant(client, ADMIN, id=platform.tenant)
        r = client.post(f"/v1/tenants/{platform.tenant}/deployments", json=BODY, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert "metadata.annotations" in r.json()["detail"] and "bad key!" in r.json()["detail"]
        assert isvc(kube, ns, "default") is None


def test_deleting_a_tenant_deletes_its_real_inference_services(
    kube: Kube, platform: Platform, tmp_path: Path, mlflow_tracking_uri: str
) -> None:
    ns = platform.tenant_ns
    with control_plane(platform, tmp_path, mlflow_tracking_uri) as client:
        create_tenant(client, ADMIN, id=platform.tenant)
        for name in ("one", "two"):
            r = client.post(
                f"/v1/tenants/{platform.tenant}/deployments", json={**BODY, "name": name}, headers=ADMIN
            )
            assert r.status_code == 201, r.text
        assert sorted(
            i["metadata"]["name"]
            for i in kube.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
        ) == ["one", "two"]
        assert client.delete(f"/v1/tenants/{platform.tenant}", headers=ADMIN).status_code == 200
        assert kube.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"] == []
