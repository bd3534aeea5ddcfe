"""KServeDeployer against a loopback server that records Kubernetes API calls.

No cluster runs here: the server (``fake_kube.py``) stores objects and answers like the
API server (201/409/404, merge patches); nothing reconciles them, so tests set
``.status`` the way KServe's controller would. Every manifest the deployer sent is
validated against KServe's InferenceService CRD schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.deploy.kserve import KServeDeployer, inference_service
from recsys_platform.deploy.ports import DeploymentSpec, ResourceBounds
from recsys_platform.deploy.settings import DeployerSettings
from recsys_platform.errors import DependencyUnavailable, Forbidden

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_tenant
from tests.integration.deploy.fake_kube import FakeKube, fake_kube
from tests.integration.helm import kserve_crd

pytestmark = pytest.mark.integration

READY = {
    "url": "http://default.recsys-acme.example.com",
    "address": {"url": "http://default-predictor.recsys-acme.svc.cluster.local"},
    "conditions": [
        {"type": "PredictorReady", "status": "True"},
        {"type": "Ready", "status": "True"},
    ],
}


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with fake_kube() as k:
        yield k


@pytest.fixture
def settings(kube: FakeKube, tmp_path: Path) -> DeployerSettings:
    return DeployerSettings(
        mode="kserve", kubeconfig=str(kube.kubeconfig(tmp_path / "kubeconfig")), context="fake"
    )


def spec(**overrides: object) -> DeploymentSpec:
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "name": "default",
        "model_uri": "models:/recsys-acme/3",
        "model_version": "3",
        "storage_uri": "s3://models/acme/3/artifacts/model",
        "requests": ResourceBounds("250m", "512Mi"),
        "limits": ResourceBounds("1", "1Gi"),
    }
    fields.update(overrides)
    return DeploymentSpec(**fields)  # type: ignore[arg-type]


def sent_manifests(kube: FakeKube) -> list[dict[str, object]]:
    return [c.body for c in kube.isvc_calls() if c.method == "POST"]


def test_create_then_patch_with_a_canary_then_clear_it(kube: FakeKube, settings: DeployerSettings) -> None:
    deployer = KServeDeployer(settings)
    try:
        first = deployer.deploy(spec())
        assert first.state == "pending"
        (create,) = kube.isvc_calls()
        assert (create.method, create.path) == (
            "POST",
            "/apis/serving.kserve.io/v1beta1/namespaces/recsys-acme/inferenceservices",
        )
        assert create.headers["authorization"] == "Bearer test-token"  # the chosen context's user
        assert create.body == inference_service(spec(), settings)

        rollout = spec(model_uri="models:/recsys-acme/4", model_version="4", canary_traffic_percent=20)
        deployer.deploy(rollout)
        post, patch = kube.isvc_calls()[1:]
        assert post.method == "POST"  # 409: it exists, so the deployer patches
        assert patch.method == "PATCH"
        assert patch.path.endswith("/namespaces/recsys-acme/inferenceservices/default")
        assert patch.headers["content-type"] == "application/merge-patch+json"
        stored = kube.objects[("recsys-acme", "default")]
        assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 20
        assert stored["metadata"]["labels"]["recsys.io/model-version"] == "4"

        deployer.deploy(spec(model_uri="models:/recsys-acme/4", model_version="4"))
        stored = kube.objects[("recsys-acme", "default")]
        assert "canaryTrafficPercent" not in stored["spec"]["predictor"]  # promoted: all traffic
        assert stored["metadata"]["generation"] == 3
        for manifest in sent_manifests(kube):
            kserve_crd.assert_valid(manifest)  # type: ignore[arg-type]
    finally:
        deployer.close()


def test_status_follows_the_inference_service(kube: FakeKube, settings: DeployerSettings) -> None:
    deployer = KServeDeployer(settings)
    try:
        deployer.deploy(spec())
        kube.set_status("recsys-acme", "default", READY)
        status = deployer.status("acme", "default")
        assert status.state == "ready"
        assert status.endpoint == "http://default-predictor.recsys-acme.svc.cluster.local"
        assert status.model_version == "3"
        kube.set_status(
            "recsys-acme",
            "default",
            {
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "no runtime"}
                ],
                "modelStatus": {"states": {"targetModelState": "FailedToLoad"}},
            },
        )
        failed = deployer.status("acme", "default")
        assert failed.state == "failed"
        assert failed.message is not None and "no runtime" in failed.message
        assert [s.name for s in deployer.list("acme")] == ["default"]
        assert deployer.list("globex") == []
        listing = [c for c in kube.isvc_calls() if c.method == "GET" and c.path.endswith("inferenceservices")]
        assert listing[0].query["labelSelector"] == ["recsys.io/tenant=acme"]
    finally:
        deployer.close()


def test_undeploy_deletes_and_tolerates_absence(kube: FakeKube, settings: DeployerSettings) -> None:
    deployer = KServeDeployer(settings)
    try:
        deployer.deploy(spec())
        deployer.undeploy("acme", "default")
        assert ("recsys-acme", "default") not in kube.objects
        deployer.undeploy("acme", "default")  # already gone: no error
        assert [c.method for c in kube.isvc_calls()][-2:] == ["DELETE", "DELETE"]
        assert deployer.status("acme", "default").state == "stopped"
    finally:
        deployer.close()


def test_refusals_and_an_unreachable_cluster_are_clear_errors(
    kube: FakeKube, settings: DeployerSettings, tmp_path: Path
) -> None:
    kube.fail[("POST", "recsys-acme")] = (403, 'User "system:serviceaccount:recsys:cp" cannot create')
    deployer = KServeDeployer(settings)
    with pytest.raises(Forbidden, match="cannot create"):
        deployer.deploy(spec())
    deployer.close()
    # the kubeconfig's current context points at a closed port
    nowhere = DeployerSettings(mode="kserve", kubeconfig=settings.kubeconfig, request_timeout_seconds=2)
    unreachable = KServeDeployer(nowhere)
    with pytest.raises(DependencyUnavailable, match="Kubernetes API unreachable"):
        unreachable.status("acme", "default")
    unreachable.close()


@pytest.fixture
def overrides(settings: DeployerSettings, mlflow_tracking_uri: str) -> dict[str, object]:
    """Control-plane settings: KServe mode against the fake API, the real MLflow registry."""
    return {
        "deployer": settings.model_dump(),
        "mlflow": {"tracking_uri": mlflow_tracking_uri, "provision": False},
        "training": {"enabled": False},
    }


def test_deployments_api_in_kserve_mode(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        ns = f"recsys-{tenant}"
        base = f"/v1/tenants/{tenant}/deployments"
        body = {
            "name": "default",
            "model": {"uri": "s3://models/acme/3"},
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "min_replicas": 1,
            "max_replicas": 3,
        }
        r = client.post(base, json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "pending"
        assert r.json()["mode"] == "kserve"
        stored = kube.objects[(ns, "default")]
        predictor = stored["spec"]["predictor"]
        assert predictor["model"]["storageUri"] == "s3://models/acme/3"
        assert predictor["model"]["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
        assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
        assert client.post(base, json=body, headers=ADMIN).status_code == 409

        kube.set_status(ns, "default", READY)
        got = client.get(f"{base}/default", headers=ADMIN).json()
        assert got["status"] == "ready"
        assert got["predict_url"] == (
            "http://default-predictor.recsys-acme.svc.cluster.local/v1/models/default:predict"
        )
        rollout = {**body, "canary_traffic_percent": 10, "model": {"uri": "s3://models/acme/4"}}
        rollout.pop("name")
        r = client.put(f"{base}/default", json=rollout, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert kube.objects[(ns, "default")]["spec"]["predictor"]["canaryTrafficPercent"] == 10
        assert [d["name"] for d in client.get(base, headers=ADMIN).json()["items"]] == ["default"]

        assert client.delete(f"{base}/default", headers=ADMIN).status_code == 204
        assert (ns, "default") not in kube.objects
        assert client.get(f"{base}/default", headers=ADMIN).status_code == 404
        for manifest in sent_manifests(kube):
            kserve_crd.assert_valid(manifest)  # type: ignore[arg-type]


BAD_BODIES = [
    ({"model": {"uri": "/home/me/model"}}, "model.uri"),
    ({"model": {"alias": "champion", "version": "3"}}, "model"),
    ({"name": "Default"}, "name"),
    ({"min_replicas": 3, "max_replicas": 2}, "body"),
    ({"canary_traffic_percent": 150}, "canary_traffic_percent"),
    ({"resources": {"requests": {"cpu": "lots"}}}, "resources.requests.cpu"),
    ({"replicas": 2}, "replicas"),
]


def test_bad_deployments_are_refused_naming_the_field(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        for change, field in BAD_BODIES:
            body = {"name": "default", "model": {"uri": "s3://models/acme/3"}, **change}
            r = client.post(f"/v1/tenants/{tenant}/deployments", json=body, headers=ADMIN)
            assert r.status_code == 422, (change, r.text)
            fields = [e["field"] for e in r.json()["errors"]]
            assert any(f == field or f.startswith(f"{field}.") for f in fields), (change, fields)
        assert client.get(f"/v1/tenants/{tenant}/deployments", headers=ADMIN).json()["items"] == []
    assert not [c for c in kube.isvc_calls() if c.method == "POST"]  # nothing reached the cluster


def test_alias_and_version_resolve_in_the_mlflow_registry(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory, mlflow_tracking_uri: str
) -> None:
    from mlflow import MlflowClient

    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        base = f"/v1/tenants/{tenant}/deployments"
        r = client.post(base, json={"name": "default"}, headers=ADMIN)  # champion, not registered yet
        assert r.status_code == 404, r.text
        assert r.json()["errors"] == [{"field": "model.alias", "reason": "not registered"}]

        registry = MlflowClient(tracking_uri=mlflow_tracking_uri, registry_uri=mlflow_tracking_uri)
        name = f"recsys-{tenant}"
        registry.create_registered_model(name)
        try:
            for n in (1, 2):
                registry.create_model_version(name, source=f"s3://models/{tenant}/{n}", run_id=None)
            registry.set_registered_model_alias(name, "champion", "2")

            r = client.post(base, json={"name": "default"}, headers=ADMIN)
            assert r.status_code == 201, r.text
            assert r.json()["resolved_version"] == "2"
            model = kube.objects[(f"recsys-{tenant}", "default")]["spec"]["predictor"]["model"]
            # an alias is followed by the server itself: no pinned storageUri
            assert "storageUri" not in model
            assert {"name": "RECSYS_MODEL_SERVER_MODEL_URI", "value": f"models:/{name}@champion"} in model[
                "env"
            ]

            r = client.post(base, json={"name": "pinned", "model": {"version": "1"}}, headers=ADMIN)
            assert r.status_code == 201, r.text
            pinned = kube.objects[(f"recsys-{tenant}", "pinned")]["spec"]["predictor"]["model"]
            assert pinned["storageUri"] == f"s3://models/{tenant}/1"
            assert {"name": "RECSYS_MODEL_SERVER_MODEL_URI", "value": "/mnt/models"} in pinned["env"]
            r = client.put(f"{base}/pinned", json={"model": {"version": "2"}}, headers=ADMIN)
            assert (r.json()["resolved_version"], r.json()["previous_version"]) == ("2", "1")

            r = client.post(base, json={"name": "other", "model": {"version": "7"}}, headers=ADMIN)
            assert r.status_code == 404
            assert r.json()["errors"][0]["field"] == "model.version"
        finally:
            registry.delete_registered_model(name)


def test_deleting_a_tenant_removes_its_inference_services(
    kube: FakeKube, settings: DeployerSettings, tmp_path: Path, mlflow_tracking_uri: str
) -> None:
    from fastapi.testclient import TestClient
    from recsys_platform.control_plane.app import create_app
    from recsys_platform.settings import ControlPlaneSettings

    from tests.factories import ADMIN_TOKEN

    cp = ControlPlaneSettings(
        admin_token=ADMIN_TOKEN,
        database={"url": f"sqlite:///{tmp_path / 'cp.db'}"},
        event_log={"sqlite_path": str(tmp_path / "events.db")},
        provision_feature_store=False,
        mlflow={"tracking_uri": mlflow_tracking_uri, "provision": False},
        training={"enabled": False},
        deployer=settings.model_dump(),
    )
    # no provisioners passed: the production set, which includes the deployments provisioner
    with TestClient(create_app(cp), raise_server_exceptions=False) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        other = create_tenant(client, ADMIN)["id"]
        for t, name in ((tenant, "default"), (tenant, "canary"), (other, "default")):
            body = {"name": name, "model": {"uri": f"s3://models/{t}/1"}}
            assert client.post(f"/v1/tenants/{t}/deployments", json=body, headers=ADMIN).status_code == 201
        assert client.delete(f"/v1/tenants/{tenant}", headers=ADMIN).status_code == 200
        assert sorted(kube.objects) == [(f"recsys-{other}", "default")]  # the other tenant keeps its own
        assert [
            d["name"] for d in client.get(f"/v1/tenants/{other}/deployments", headers=ADMIN).json()["items"]
        ] == ["default"]


def test_a_tenant_key_reaches_only_its_own_deployments(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    from tests.factories import create_key, key_header

    with make_client(**overrides) as client:
        acme = create_tenant(client, ADMIN)["id"]
        globex = create_tenant(client, ADMIN)["id"]
        body = {"name": "default", "model": {"uri": "s3://models/acme/1"}}
        assert client.post(f"/v1/tenants/{acme}/deployments", json=body, headers=ADMIN).status_code == 201
        globex_admin = key_header(create_key(client, ADMIN, globex, "admin"))
        acme_events = key_header(create_key(client, ADMIN, acme, "events:write"))
        for headers in (globex_admin, acme_events):
            assert client.get(f"/v1/tenants/{acme}/deployments", headers=headers).status_code == 403
            assert (
                client.delete(f"/v1/tenants/{acme}/deployments/default", headers=headers).status_code == 403
            )
            r = client.post(f"/v1/tenants/{acme}/deployments", json={**body, "name": "x"}, headers=headers)
            assert r.status_code == 403
        acme_admin = key_header(create_key(client, ADMIN, acme, "admin"))
        assert client.get(f"/v1/tenants/{acme}/deployments/default", headers=acme_admin).status_code == 200
        assert (f"recsys-{acme}", "default") in kube.objects
        assert client.get(f"/v1/tenants/{acme}/deployments").status_code == 401
