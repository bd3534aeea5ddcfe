"""API keys: shown once, stored hashed, scoped, revocable, rotatable, tenant-bound."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.factories import ADMIN, create_key, create_tenant, key_header

pytestmark = pytest.mark.integration


def test_key_is_shown_once_and_stored_only_as_hash(client: TestClient, database_url: str) -> None:
    create_tenant(client, ADMIN, id="shop")
    created = client.post(
        "/v1/tenants/shop/api-keys",
        json={"name": "web", "scopes": ["recommendations:read", "events:write"]},
        headers=ADMIN,
    ).json()
    key = created["key"]
    assert key.startswith(created["prefix"] + "_")

    listed = client.get("/v1/tenants/shop/api-keys", headers=ADMIN).json()["items"]
    assert len(listed) == 1
    assert "key" not in listed[0]
    assert key not in str(listed)

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT prefix, key_hash FROM api_keys")).all()
    engine.dispose()
    assert rows == [(created["prefix"], hashlib.sha256(key.encode()).hexdigest())]
    assert all(key not in str(value) for row in rows for value in row)


def test_last_used_at_is_recorded(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    key = create_key(client, ADMIN, "shop", "admin")
    before = client.get("/v1/tenants/shop/api-keys", headers=ADMIN).json()["items"][0]
    assert before["last_used_at"] is None
    me = client.get("/v1/me", headers=key_header(key)).json()
    assert me == {
        "kind": "api_key",
        "tenant_id": "shop",
        "key_id": before["id"],
        "scopes": ["admin"],
        "expires_at": None,
    }
    after = client.get("/v1/tenants/shop/api-keys", headers=ADMIN).json()["items"][0]
    assert after["last_used_at"] is not None


def test_revoked_key_stops_working(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    key = create_key(client, ADMIN, "shop", "admin")
    key_id = client.get("/v1/tenants/shop/api-keys", headers=ADMIN).json()["items"][0]["id"]
    assert client.get("/v1/tenants/shop", headers=key_header(key)).status_code == 200

    revoked = client.delete(f"/v1/tenants/shop/api-keys/{key_id}", headers=ADMIN)
    assert revoked.json()["status"] == "revoked"
    response = client.get("/v1/tenants/shop", headers=key_header(key))
    assert response.status_code == 401
    assert response.json()["detail"] == "API key is revoked"


def test_rotate_issues_new_secret_with_same_scopes_and_revokes_old(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    old = create_key(client, ADMIN, "shop", "admin", "events:write", name="ops")
    old_id = client.get("/v1/tenants/shop/api-keys", headers=ADMIN).json()["items"][0]["id"]

    rotated = client.post(f"/v1/tenants/shop/api-keys/{old_id}/rotate", headers=key_header(old))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["name"] == "ops" and new["scopes"] == ["admin", "events:write"]
    assert new["key"] != old

    assert client.get("/v1/me", headers=key_header(old)).status_code == 401
    assert client.get("/v1/me", headers=key_header(new["key"])).status_code == 200
    again = client.post(f"/v1/tenants/shop/api-keys/{old_id}/rotate", headers=ADMIN)
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "key_id"


def test_expired_key_is_refused(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    past = client.post(
        "/v1/tenants/shop/api-keys",
        json={"name": "old", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "expires_at"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["superuser"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin", "admin"]}, "scopes"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "owner": "me"}, "owner"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ],
)
def test_invalid_key_request_names_the_field(client: TestClient, body: dict[str, object], field: str) -> None:
    create_tenant(client, ADMIN, id="shop")
    response = client.post("/v1/tenants/shop/api-keys", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_key_without_admin_scope_cannot_manage_keys_or_catalog(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    reader = create_key(client, ADMIN, "shop", "recommendations:read", "events:write")
    for method, path, body in [
        ("GET", "/v1/tenants/shop/api-keys", None),
        ("POST", "/v1/tenants/shop/api-keys", {"name": "x", "scopes": ["admin"]}),
        ("GET", "/v1/tenants/shop/catalog/schema", None),
        ("POST", "/v1/tenants/shop/catalog/items", {"items": [{"item_id": "a", "title": "A"}]}),
    ]:
        response = client.request(method, path, json=body, headers=key_header(reader))
        assert response.status_code == 403, (method, path)
        assert "'admin' scope" in response.json()["detail"]


CROSS_TENANT_CALLS = [
    ("GET", "/v1/tenants/tenant-b", None),
    ("GET", "/v1/tenants/tenant-b/api-keys", None),
    ("POST", "/v1/tenants/tenant-b/api-keys", {"name": "x", "scopes": ["admin"]}),
    ("DELETE", "/v1/tenants/tenant-b/api-keys/{b_key_id}", None),
    ("POST", "/v1/tenants/tenant-b/api-keys/{b_key_id}/rotate", None),
    ("GET", "/v1/tenants/tenant-b/catalog/schema", None),
    ("PUT", "/v1/tenants/tenant-b/catalog/schema", {"fields": []}),
    ("POST", "/v1/tenants/tenant-b/catalog/items", {"items": [{"item_id": "x", "title": "X"}]}),
    ("GET", "/v1/tenants/tenant-b/catalog/items", None),
    ("GET", "/v1/tenants/tenant-b/catalog/items/b1", None),
    ("DELETE", "/v1/tenants/tenant-b/catalog/items/b1", None),
]


def test_a_key_of_tenant_a_never_reads_or_changes_tenant_b(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="tenant-a")
    create_tenant(client, ADMIN, id="tenant-b")
    a_key = create_key(client, ADMIN, "tenant-a", "admin", "events:write", "recommendations:read")
    create_key(client, ADMIN, "tenant-b", "admin", name="b-admin")
    b_key_id = client.get("/v1/tenants/tenant-b/api-keys", headers=ADMIN).json()["items"][0]["id"]
    client.post(
        "/v1/tenants/tenant-b/catalog/items",
        json={"items": [{"item_id": "b1", "title": "B"}]},
        headers=ADMIN,
    )
    before = client.get("/v1/tenants/tenant-b", headers=ADMIN).json()

    for method, path, body in CROSS_TENANT_CALLS:
        path = path.format(b_key_id=b_key_id)
        response = client.request(method, path, json=body, headers=key_header(a_key))
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["errors"] == [{"field": "tenant_id", "reason": "not the key's tenant"}]

    assert client.get("/v1/tenants/tenant-b", headers=ADMIN).json() == before
    keys = client.get("/v1/tenants/tenant-b/api-keys", headers=ADMIN).json()["items"]
    assert [(k["name"], k["status"]) for k in keys] == [("b-admin", "active")]
    items = client.get("/v1/tenants/tenant-b/catalog/items", headers=ADMIN).json()["items"]
    assert [i["item_id"] for i in items] == ["b1"]
