"""Catalog schema and bulk import: per-record results, good records kept."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import ADMIN, create_tenant, item

pytestmark = pytest.mark.integration


def _import(client: TestClient, tenant: str, items: list[object]) -> dict:  # type: ignore[type-arg]
    response = client.post(f"/v1/tenants/{tenant}/catalog/items", json={"items": items}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_mixed_batch_keeps_good_records_and_reports_each_bad_one(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    result = _import(
        client,
        "shop",
        [
            item("p1", price=9.5, in_stock=True, tags=["a"]),
            item("p2", price="cheap"),
            {"title": "no id"},
            item("p3", colour="red"),
            "not an object",
            item("p4", category="books"),
            item("p1", price=1),
        ],
    )
    assert (result["created"], result["updated"], result["rejected"]) == (2, 0, 5)
    by_index = {r["index"]: r for r in result["results"]}
    assert [by_index[i]["status"] for i in range(7)] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "rejected",
    ]
    assert by_index[1]["errors"] == [{"field": "price", "reason": "expected a number, got string"}]
    assert by_index[2]["errors"][0]["field"] == "item_id"
    assert by_index[3]["errors"] == [
        {"field": "colour", "reason": "not declared in the tenant's catalog schema"}
    ]
    assert by_index[4]["errors"] == [{"field": "item", "reason": "must be a JSON object"}]
    assert "duplicate item_id" in by_index[6]["errors"][0]["reason"]

    stored = client.get("/v1/tenants/shop/catalog/items", headers=ADMIN).json()["items"]
    assert [(i["item_id"], i["attributes"].get("price")) for i in stored] == [
        ("p1", 9.5),
        ("p4", None),
    ]


def test_reimport_updates_in_place(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    _import(client, "shop", [item("p1", price=1.0)])
    first = client.get("/v1/tenants/shop/catalog/items/p1", headers=ADMIN).json()
    result = _import(client, "shop", [item("p1", price=2.0), item("p2")])
    assert (result["created"], result["updated"]) == (1, 1)
    again = client.get("/v1/tenants/shop/catalog/items/p1", headers=ADMIN).json()
    assert again["attributes"]["price"] == 2.0
    assert again["created_at"] == first["created_at"]
    assert again["updated_at"] >= first["updated_at"]


def test_timestamps_are_normalised_to_utc(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="news", use_case="news")
    result = _import(
        client,
        "news",
        [item("n1", published_at="2026-11-27T10:00:00+02:00"), item("n2", published_at="yesterday")],
    )
    assert [r["status"] for r in result["results"]] == ["created", "rejected"]
    stored = client.get("/v1/tenants/news/catalog/items/n1", headers=ADMIN).json()
    assert stored["attributes"]["published_at"] == "2026-11-27T08:00:00+00:00"


def test_ten_thousand_items_import_in_one_call(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="big-shop")
    result = _import(client, "big-shop", [item(f"p{i}", price=float(i)) for i in range(10_000)])
    assert result["created"] == 10_000 and result["rejected"] == 0
    page = client.get("/v1/tenants/big-shop/catalog/items?limit=1000", headers=ADMIN).json()
    assert len(page["items"]) == 1000 and page["next_cursor"]
    seen = 0
    cursor: str | None = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/tenants/big-shop/catalog/items", params=params, headers=ADMIN).json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == 10_000


def test_oversized_batch_is_refused_naming_items(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    response = client.post(
        "/v1/tenants/shop/catalog/items",
        json={"items": [item(f"p{i}") for i in range(10_001)]},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items"
    assert client.get("/v1/tenants/shop/catalog/items", headers=ADMIN).json()["items"] == []


def test_body_over_the_size_limit_is_413(make_client) -> None:  # type: ignore[no-untyped-def]
    with make_client(max_request_bytes=2048) as client:
        create_tenant(client, ADMIN, id="shop")
        response = client.post(
            "/v1/tenants/shop/catalog/items",
            json={"items": [item(f"p{i}", description="x" * 100) for i in range(50)]},
            headers=ADMIN,
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


def test_max_items_quota_rejects_only_the_overflow(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="tiny", quotas={"max_items": 3})
    result = _import(client, "tiny", [item(f"p{i}") for i in range(5)])
    assert [r["status"] for r in result["results"]] == [
        "created",
        "created",
        "created",
        "rejected",
        "rejected",
    ]
    assert "max_items (3)" in result["results"][3]["errors"][0]["reason"]
    # updates of existing items still pass at the limit
    assert _import(client, "tiny", [item("p0", price=3.0)])["updated"] == 1


def test_schema_changes_are_additive_once_items_exist(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    schema = client.get("/v1/tenants/shop/catalog/schema", headers=ADMIN).json()
    added = {"fields": [*schema["fields"], {"name": "colour", "type": "string"}]}
    assert client.put("/v1/tenants/shop/catalog/schema", json=added, headers=ADMIN).status_code == 200
    assert _import(client, "shop", [item("p1", colour="red")])["created"] == 1

    retyped = {"fields": [f if f["name"] != "price" else {**f, "type": "string"} for f in added["fields"]]}
    response = client.put("/v1/tenants/shop/catalog/schema", json=retyped, headers=ADMIN)
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"field": "price", "reason": "cannot change type number -> string while items exist"}
    ]
    removed = {"fields": [f for f in added["fields"] if f["name"] != "colour"]}
    assert client.put("/v1/tenants/shop/catalog/schema", json=removed, headers=ADMIN).status_code == 409


def test_invalid_schema_names_the_field(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    for body, field in [
        ({"fields": [{"name": "Bad Name", "type": "string"}]}, "fields.0.name"),
        ({"fields": [{"name": "x", "type": "blob"}]}, "fields.0.type"),
        ({"fields": [{"name": "x", "type": "string", "indexed": True}]}, "fields.0.indexed"),
    ]:
        response = client.put("/v1/tenants/shop/catalog/schema", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field
    dup = client.put(
        "/v1/tenants/shop/catalog/schema",
        json={"fields": [{"name": "x", "type": "string"}, {"name": "x", "type": "text"}]},
        headers=ADMIN,
    )
    assert dup.status_code == 422
    assert "declared twice" in dup.json()["detail"]


def test_delete_item_and_unknown_item(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    _import(client, "shop", [item("p1")])
    assert client.delete("/v1/tenants/shop/catalog/items/p1", headers=ADMIN).status_code == 204
    missing = client.get("/v1/tenants/shop/catalog/items/p1", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["errors"] == [{"field": "item_id", "reason": "unknown"}]


def test_an_item_id_with_a_slash_can_be_read_and_deleted(client: TestClient) -> None:
    create_tenant(client, ADMIN, id="shop")
    _import(client, "shop", [item("books/978-3"), item("books")])
    for path in ("books/978-3", "books%2F978-3"):  # plain or percent-encoded
        got = client.get(f"/v1/tenants/shop/catalog/items/{path}", headers=ADMIN)
        assert got.status_code == 200, got.text
        assert got.json()["item_id"] == "books/978-3"
    assert client.delete("/v1/tenants/shop/catalog/items/books%2F978-3", headers=ADMIN).status_code == 204
    assert client.get("/v1/tenants/shop/catalog/items/books/978-3", headers=ADMIN).status_code == 404
    assert client.get("/v1/tenants/shop/catalog/items/books", headers=ADMIN).status_code == 200
