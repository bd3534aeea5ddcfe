"""Builders of valid request payloads; tests override only what they are about."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

_seq = itertools.count(1)
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def tenant_payload(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    body: dict[str, Any] = {
        "id": f"tenant-{n:04d}",
        "display_name": f"Tenant {n}",
        "use_case": "ecommerce",
    }
    body.update(overrides)
    return body


def item(item_id: str, **attributes: Any) -> dict[str, Any]:
    return {"item_id": item_id, "title": f"Item {item_id}", **attributes}


def create_tenant(client: TestClient, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/tenants", json=tenant_payload(**overrides), headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def create_key(
    client: TestClient, admin: dict[str, str], tenant_id: str, *scopes: str, name: str = "k"
) -> str:
    response = client.post(
        f"/v1/tenants/{tenant_id}/api-keys",
        json={"name": name, "scopes": list(scopes)},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def key_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
