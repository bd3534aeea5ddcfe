"""Tenant lifecycle through the HTTP API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from recsys_platform.provisioning.ports import ResourceRef, TenantContext

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header, tenant_payload

pytestmark = pytest.mark.integration


def test_create_then_get_returns_defaults_and_template_schema(client: TestClient) -> None:
    created = create_tenant(client, ADMIN, id="daily-news", use_case="news")
    assert created["status"] == "active"
    assert created["quotas"]["requests_per_second"] == 100
    assert created["retention"]["events_days"] == 90
    names = [f["name"] for f in created["catalog_schema"]["fields"]]
    assert "title" in names and "published_at" in names

    fetched = client.get("/v1/tenants/daily-news", headers=ADMIN).json()
    assert fetched == created


def test_list_hides_deleted_unless_asked(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="keep-me")
    create_tenant(client, ADMIN, id="drop-me")
    assert client.delete("/v1/tenants/drop-me", headers=ADMIN).json()["status"] == "deleted"

    ids = [t["id"] for t in client.get("/v1/tenants", headers=ADMIN).json()["items"]]
    assert ids == ["keep-me"]
    all_ids = [t["id"] for t in client.get("/v1/tenants?include_deleted=true", headers=ADMIN).json()["items"]]
    assert all_ids == ["drop-me", "keep-me"]


def test_patch_merges_quotas_and_keeps_other_fields(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop-one", quotas={"requests_per_second": 50, "max_items": 10})
    response = client.patch(
        "/v1/tenants/shop-one",
        json={"display_name": "Shop One", "quotas": {"max_items": 20}},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Shop One"
    assert body["quotas"]["max_items"] == 20
    assert body["quotas"]["requests_per_second"] == 50


def test_duplicate_tenant_is_409_naming_id(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="twice")
    response = client.post("/v1/tenants", json=tenant_payload(id="twice"), headers=ADMIN)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "id", "reason": "already exists"}]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"id": "Bad_Slug"}, "id"),
        ({"id": "ab"}, "id"),
        ({"id": "-leading"}, "id"),
        ({"use_case": "banking"}, "use_case"),
        ({"display_name": ""}, "display_name"),
        ({"quotas": {"requests_per_second": 0}}, "quotas.requests_per_second"),
        ({"quotas": {"rps": 5}}, "quotas.rps"),
        ({"colour": "blue"}, "colour"),
        ({"retention": {"events_days": 5000}}, "retention.events_days"),
    ],
)
def test_invalid_tenant_is_422_naming_the_field(
    client: TestClient, payload: dict[str, object], field: str
) -> None:
    response = client.post("/v1/tenants", json=tenant_payload(**payload), headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert client.get("/v1/tenants", headers=ADMIN).json()["items"] == []


def test_malformed_json_is_422_about_the_body(client: TestClient) -> None:
    response = client.post(
        "/v1/tenants",
        content=b'{"id": "x",',
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert "malformed JSON" in response.json()["errors"][0]["reason"]


def test_missing_and_wrong_credentials_are_401(client: TestClient) -> None:
    missing = client.get("/v1/tenants")
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["field"] == "authorization"
    wrong = client.get("/v1/tenants", headers={"Authorization": "Bearer not-a-key"})
    assert wrong.status_code == 401
    forged = client.get("/v1/tenants", headers={"Authorization": "Bearer rsk_deadbeef_" + "x" * 43})
    assert forged.status_code == 401
    assert forged.json()["detail"] == "unknown API key"


def test_tenant_key_cannot_use_platform_admin_operations(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="tenant-a")
    key = create_key(client, ADMIN, "tenant-a", "admin")
    for method, path, body in [
        ("GET", "/v1/tenants", None),
        ("POST", "/v1/tenants", tenant_payload()),
        ("PATCH", "/v1/tenants/tenant-a", {"quotas": {"max_items": 10**7}}),
        ("DELETE", "/v1/tenants/tenant-a", None),
    ]:
        response = client.request(method, path, json=body, headers=key_header(key))
        assert response.status_code == 403, (method, path, response.text)
    assert client.get("/v1/tenants/tenant-a", headers=ADMIN).json()["status"] == "active"


def test_delete_revokes_keys_and_purges_catalog(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="going")
    key = create_key(client, ADMIN, "going", "admin")
    client.post(
        "/v1/tenants/going/catalog/items",
        json={"items": [{"item_id": "a", "title": "A"}]},
        headers=ADMIN,
    )
    deleted = client.delete("/v1/tenants/going", headers=ADMIN)
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None

    assert client.get("/v1/tenants/going", headers=ADMIN).status_code == 404
    assert client.get("/v1/me", headers=key_header(key)).status_code == 401
    assert client.delete("/v1/tenants/going", headers=ADMIN).status_code == 404

    # the id can be onboarded again, empty
    create_tenant(client, ADMIN, id="going")
    items = client.get("/v1/tenants/going/catalog/items", headers=ADMIN).json()["items"]
    assert items == []


class _FlakyPurge:
    """A backend whose purge fails until repaired (our own lifecycle logic under test)."""

    name = "flaky"

    def __init__(self) -> None:
        self.broken = True

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        return [ResourceRef("thing", tenant.tenant_id)]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        if self.broken:
            raise OSError("backend down")

    def check(self) -> None:
        return None


def test_an_id_is_reused_only_after_its_purge_completed(make_client: AppFactory) -> None:
    flaky = _FlakyPurge()
    with make_client(provisioners=[flaky]) as client:
        create_tenant(client, ADMIN, id="half-gone")
        failed = client.delete("/v1/tenants/half-gone", headers=ADMIN)
        assert failed.status_code == 503 and "repeat the DELETE" in failed.json()["detail"]

        again = client.post("/v1/tenants", json=tenant_payload(id="half-gone"), headers=ADMIN)
        assert again.status_code == 409, again.text
        assert "not purged yet" in again.json()["detail"]
        assert again.json()["errors"][0]["field"] == "id"

        flaky.broken = False
        assert client.delete("/v1/tenants/half-gone", headers=ADMIN).json()["status"] == "deleted"
        create_tenant(client, ADMIN, id="half-gone")


def test_unknown_tenant_is_404(client: TestClient) -> None:
    response = client.get("/v1/tenants/nobody-here", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": "tenant_id", "reason": "unknown"}]


def test_openapi_documents_the_onboarding_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/tenants",
        "/v1/tenants/{tenant_id}",
        "/v1/tenants/{tenant_id}/api-keys",
        "/v1/tenants/{tenant_id}/api-keys/{key_id}/rotate",
        "/v1/tenants/{tenant_id}/catalog/schema",
        "/v1/tenants/{tenant_id}/catalog/items",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
