"""``?limit=&cursor=`` on the control plane's lists: pages in order, a cursor that survives
additions, clear 422s for a malformed or expired cursor."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import ADMIN, create_key, create_tenant

pytestmark = pytest.mark.integration


def _pages(client: TestClient, url: str, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(url, params=params, headers=ADMIN).json()
        pages.append([i.get("id") if "prefix" in i or "use_case" in i else i["name"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_lists_page_with_a_cursor(client: TestClient) -> None:
    ids = [create_tenant(client, ADMIN, id=f"shop-{n}")["id"] for n in range(5)]
    pages = _pages(client, "/v1/tenants", 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [t for p in pages for t in p] == ids
    one_page = client.get("/v1/tenants", params={"limit": 5}, headers=ADMIN).json()
    assert one_page["next_cursor"] is None and len(one_page["items"]) == 5

    first = client.get("/v1/tenants", params={"limit": 2}, headers=ADMIN).json()
    create_tenant(client, ADMIN, id="shop-late")  # an addition does not shift the next page
    second = client.get(
        "/v1/tenants", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN
    ).json()
    assert [t["id"] for t in second["items"]] == ids[2:4]

    keys = [create_key(client, ADMIN, "shop-0", "admin", name=f"k{n}") for n in range(3)]
    key_pages = _pages(client, "/v1/tenants/shop-0/api-keys", 2)
    assert [len(p) for p in key_pages] == [2, 1] and len(keys) == 3

    bad = client.get("/v1/tenants", params={"cursor": "not-a-cursor"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"] == [{"field": "cursor", "reason": "malformed"}]
    client.delete(f"/v1/tenants/{second['items'][-1]['id']}", headers=ADMIN)
    gone = client.get("/v1/tenants", params={"limit": 2, "cursor": second["next_cursor"]}, headers=ADMIN)
    assert gone.status_code == 422 and gone.json()["errors"][0] == {"field": "cursor", "reason": "expired"}
    assert client.get("/v1/tenants", params={"limit": 0}, headers=ADMIN).status_code == 422
