"""A deployment serves the model the platform resolves, never a URI a tenant hands in.

KServe mode against the loopback Kubernetes API (``fake_kube``) and the real MLflow registry:
a tenant key names a version or alias of its own registered model; a raw ``model.uri`` is the
platform admin's alone, and even the admin cannot point a tenant's deployment at another
tenant's registered model. Refusals name ``model.uri`` and say nothing about the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recsys_platform.deploy.settings import DeployerSettings

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header
from tests.integration.deploy.fake_kube import FakeKube, fake_kube

pytestmark = pytest.mark.integration


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with fake_kube() as k:
        yield k


@pytest.fixture
def overrides(kube: FakeKube, tmp_path: Path, mlflow_tracking_uri: str) -> dict[str, object]:
    settings = DeployerSettings(
        mode="kserve", kubeconfig=str(kube.kubeconfig(tmp_path / "kubeconfig")), context="fake"
    )
    return {
        "deployer": settings.model_dump(),
        "mlflow": {"tracking_uri": mlflow_tracking_uri, "provision": False},
        "training": {"enabled": False},
    }


def _posted(kube: FakeKube) -> list[object]:
    return [c for c in kube.isvc_calls() if c.method in ("POST", "PATCH", "PUT")]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_tenant_key_cannot_deploy_a_raw_uri(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory, mlflow_tracking_uri: str
) -> None:
    from mlflow import MlflowClient

    with make_client(**overrides) as client:
        victim = create_tenant(client, ADMIN)["id"]
        attacker = create_tenant(client, ADMIN)["id"]
        registry = MlflowClient(tracking_uri=mlflow_tracking_uri, registry_uri=mlflow_tracking_uri)
        registry.create_registered_model(f"recsys-{victim}")
        try:
            registry.create_model_version(f"recsys-{victim}", source=f"s3://models/{victim}/1", run_id=None)
            registry.set_registered_model_alias(f"recsys-{victim}", "champion", "1")
            key = key_header(create_key(client, ADMIN, attacker, "admin"))
            base = f"/v1/tenants/{attacker}/deployments"
            uris = [
                f"models:/recsys-{victim}@champion",  # the reviewed attack: another tenant's champion
                f"models:/recsys-{victim}/1",
                f"models:///recsys-{victim}/1",
                "/etc",
                "/definitely/not/here",
                "file:///etc/passwd",
                f"s3://models/{victim}/1",
                f"models:/recsys-{attacker}/../recsys-{victim}/1",
            ]
            for uri in uris:
                r = client.post(base, json={"name": "x", "model": {"uri": uri}}, headers=key)
                assert r.status_code == 403, (uri, r.text)
                assert r.json()["errors"] == [
                    {"field": "model.uri", "reason": "only the platform admin may give a raw URI"}
                ]
                for leak in ("manifest", "not a folder", "exist", uri):
                    assert leak not in r.json()["detail"], (uri, r.text)
            # the same through a rollout of an existing deployment
            r = client.put(f"{base}/x", json={"model": {"uri": uris[0]}}, headers=key)
            assert r.status_code == 403, r.text
            assert client.get(base, headers=key).json()["items"] == []
            assert _posted(kube) == []  # nothing reached the cluster
        finally:
            registry.delete_registered_model(f"recsys-{victim}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tenant_names_a_version_or_alias_of_its_own_model(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory, mlflow_tracking_uri: str
) -> None:
    from mlflow import MlflowClient

    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        other = create_tenant(client, ADMIN)["id"]
        registry = MlflowClient(tracking_uri=mlflow_tracking_uri, registry_uri=mlflow_tracking_uri)
        for t in (tenant, other):
            registry.create_registered_model(f"recsys-{t}")
        try:
            for n in (1, 2, 3, 4):
                registry.create_model_version(
                    f"recsys-{tenant}", source=f"s3://models/{tenant}/{n}", run_id=None
                )
            registry.create_model_version(f"recsys-{other}", source=f"s3://models/{other}/1", run_id=None)
            registry.set_registered_model_alias(f"recsys-{other}", "champion", "1")
            key = key_header(create_key(client, ADMIN, tenant, "admin"))
            base = f"/v1/tenants/{tenant}/deployments"

            r = client.post(base, json={"name": "pinned", "model": {"version": 4}}, headers=key)  # a number
            assert r.status_code == 201, r.text
            assert r.json()["resolved_version"] == "4"
            model = kube.objects[(f"recsys-{tenant}", "pinned")]["spec"]["predictor"]["model"]
            assert model["storageUri"] == f"s3://models/{tenant}/4"

            # the other tenant's champion exists; this tenant's does not: not found, naming the alias
            r = client.post(base, json={"name": "champ", "model": {"alias": "champion"}}, headers=key)
            assert r.status_code == 404, r.text
            assert r.json()["errors"] == [{"field": "model.alias", "reason": "not registered"}]
            registry.set_registered_model_alias(f"recsys-{tenant}", "champion", "2")
            r = client.post(base, json={"name": "champ", "model": {"alias": "champion"}}, headers=key)
            assert r.status_code == 201, r.text
            env = kube.objects[(f"recsys-{tenant}", "champ")]["spec"]["predictor"]["model"]["env"]
            assert {
                "name": "RECSYS_MODEL_SERVER_MODEL_URI",
                "value": f"models:/recsys-{tenant}@champion",
            } in env
            # a version number this tenant has not registered: 404, whatever other tenants have
            r = client.post(base, json={"name": "nine", "model": {"version": 9}}, headers=key)
            assert r.status_code == 404 and r.json()["errors"][0]["field"] == "model.version"
        finally:
            for t in (tenant, other):
                registry.delete_registered_model(f"recsys-{t}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_platform_admin_cannot_serve_one_tenant_another_tenants_model(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        other = create_tenant(client, ADMIN)["id"]
        base = f"/v1/tenants/{tenant}/deployments"
        for uri in (f"models:/recsys-{other}@champion", f"models:/recsys-{other}/1", "models:/@champion"):
            r = client.post(base, json={"name": "x", "model": {"uri": uri}}, headers=ADMIN)
            assert r.status_code == 422, (uri, r.text)
            assert r.json()["errors"] == [
                {"field": "model.uri", "reason": "another tenant's registered model"}
            ]
        r = client.post(base, json={"name": "x", "model": {"uri": "ftp://host/model"}}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model.uri"
        assert _posted(kube) == []
        # the admin's raw URI of this tenant's own storage still deploys
        r = client.post(base, json={"name": "x", "model": {"uri": f"s3://models/{tenant}/1"}}, headers=ADMIN)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_nul_character_in_any_field_is_a_422_naming_it(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        key = key_header(create_key(client, ADMIN, tenant, "admin"))
        cases = [
            (
                "post",
                f"/v1/tenants/{tenant}/deployments",
                {"name": "x", "model": {"uri": "s3://m/\u0000"}},
                ADMIN,
                "model.uri",
            ),
            (
                "post",
                f"/v1/tenants/{tenant}/deployments",
                {"name": "x", "model": {"alias": "a\u0000"}},
                key,
                "model.alias",
            ),
            (
                "post",
                "/v1/tenants",
                {"id": "nul-tenant", "display_name": "a\u0000b", "use_case": "news"},
                ADMIN,
                "display_name",
            ),
            ("post", f"/v1/tenants/{tenant}/api-keys", {"name": "k\u0000", "scopes": ["admin"]}, key, "name"),
            (
                "put",
                f"/v1/tenants/{tenant}/catalog/items/i1",
                {"item_id": "i1", "title": "t\u0000"},
                key,
                "title",
            ),
            ("get", f"/v1/tenants/{tenant}/deployments/x%00y", None, key, "path"),
            ("get", f"/v1/tenants/{tenant}/deployments?x=%00", None, key, "query.x"),
        ]
        for method, url, body, headers, field in cases:
            r = client.request(method, url, json=body, headers=headers)
            assert r.status_code == 422, (url, body, r.status_code, r.text)
            assert r.json()["errors"] == [{"field": field, "reason": "contains a NUL character"}], r.text
        assert client.get(f"/v1/tenants/{tenant}/deployments", headers=key).json()["items"] == []
        assert client.get("/v1/tenants/nul-tenant", headers=ADMIN).status_code == 404
        # an escaped backslash followed by "u0000" is text, not a NUL: accepted as sent
        r = client.post(
            "/v1/tenants",
            json={"id": "bs-tenant", "display_name": "a\\u0000b", "use_case": "news"},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        assert r.json()["display_name"] == "a\\u0000b"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_tenant_namespace_served_gets_the_gateway_only_network_policy_first(
    kube: FakeKube, overrides: dict[str, object], make_client: AppFactory
) -> None:
    """Tenants onboarded through the API (not in the chart's ``values.tenants``) are guarded too:
    the deployer creates the policy before the namespace's first InferenceService; if it cannot,
    no model server is created there."""
    with make_client(**overrides) as client:
        tenant = create_tenant(client, ADMIN)["id"]
        ns = f"recsys-{tenant}"
        body = {"name": "default", "model": {"uri": f"s3://models/{tenant}/1"}}
        assert client.post(f"/v1/tenants/{tenant}/deployments", json=body, headers=ADMIN).status_code == 201
        policy = kube.policies[(ns, "recsys-model-servers-from-gateway")]
        assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
        (source,) = policy["spec"]["ingress"][0]["from"]
        assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "recsys"}
        assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "gateway"}
        paths = [c.path for c in kube.calls if c.method == "POST"]
        assert paths[0].endswith(f"/namespaces/{ns}/networkpolicies")  # before the model server
        assert paths[1].endswith(f"/namespaces/{ns}/inferenceservices")
        body2 = {"name": "second", "model": {"uri": f"s3://models/{tenant}/2"}}
        assert client.post(f"/v1/tenants/{tenant}/deployments", json=body2, headers=ADMIN).status_code == 201
        assert len([c for c in kube.calls if c.path.endswith("/networkpolicies")]) == 1  # once per namespace

        refused = create_tenant(client, ADMIN)["id"]
        kube.fail_policies[("POST", f"recsys-{refused}")] = (403, "networkpolicies is forbidden")
        r = client.post(f"/v1/tenants/{refused}/deployments", json=body, headers=ADMIN)
        assert r.status_code == 403, r.text  # the namespace is not this control plane's to use
        assert "NetworkPolicy" in r.json()["detail"]
        kube.fail_policies[("POST", f"recsys-{refused}")] = (500, "etcd timed out")
        r = client.post(f"/v1/tenants/{refused}/deployments", json=body, headers=ADMIN)
        assert r.status_code == 503, r.text  # the API server's own trouble: retry later
        assert "NetworkPolicy" in r.json()["detail"]
        assert (f"recsys-{refused}", "default") not in kube.objects  # no unguarded model server

    # a restarted control plane meets the existing policy (409) and deploys
    with make_client(**overrides) as client:
        body3 = {"name": "third", "model": {"uri": f"s3://models/{tenant}/3"}}
        assert client.post(f"/v1/tenants/{tenant}/deployments", json=body3, headers=ADMIN).status_code == 201
