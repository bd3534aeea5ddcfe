"""The control plane's OpenAPI document against what it really answers, one request per
error class (401, 403, 404, 409, 413, 422, 503) and for the successes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, key_header, tenant_payload
from tests.openapi_contract import check_answer, check_document

pytestmark = pytest.mark.integration


def test_document_is_complete_and_every_error_class_answers_as_documented(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the MLflow client's own retries would take minutes against the dead registry below
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    seen: set[int] = set()
    dead_mlflow = {"tracking_uri": "http://127.0.0.1:1", "provision": False}
    with make_client(max_request_bytes=20_000, mlflow=dead_mlflow) as client:
        doc = client.get("/openapi.json").json()
        check_document(doc)
        ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
        assert {"create_tenant", "list_tenants", "create_deployment", "update_deployment", "whoami"} <= ops

        def call(client: TestClient, method: str, path: str, template: str, **kwargs: Any) -> dict[str, Any]:
            response = client.request(method, path, **kwargs)
            seen.add(response.status_code)
            return check_answer(doc, method, template, response)

        one = "/v1/tenants/{tenant_id}"
        created = call(
            client, "POST", "/v1/tenants", "/v1/tenants", json=tenant_payload(id="shop-a"), headers=ADMIN
        )
        assert created["id"] == "shop-a"
        assert call(
            client, "POST", "/v1/tenants", "/v1/tenants", json=tenant_payload(id="shop-a"), headers=ADMIN
        )["errors"] == [{"field": "id", "reason": "already exists"}]
        assert call(client, "GET", "/v1/tenants", "/v1/tenants")["status"] == 401
        key = create_key(client, ADMIN, "shop-a", "admin")
        assert call(client, "GET", "/v1/tenants", "/v1/tenants", headers=key_header(key))["status"] == 403
        assert call(client, "GET", "/v1/tenants/nobody-here", one, headers=ADMIN)["status"] == 404
        bad = call(client, "POST", "/v1/tenants", "/v1/tenants", json=tenant_payload(id="X!"), headers=ADMIN)
        assert bad["errors"][0]["field"] == "id"
        huge = tenant_payload(
            id="shop-b", labels={f"k{i}": "v" * 60 for i in range(40)}, display_name="x" * 200
        )
        huge["catalog_schema"] = {"fields": [{"name": f"f{i}" * 30, "type": "string"} for i in range(200)]}
        assert call(client, "POST", "/v1/tenants", "/v1/tenants", json=huge, headers=ADMIN)["status"] == 413
        models = "/v1/tenants/{tenant_id}/models"
        down = call(client, "GET", "/v1/tenants/shop-a/models", models, headers=ADMIN)
        assert down["status"] == 503 and "MLflow" in down["detail"]  # the registry does not answer
        listed = call(client, "GET", "/v1/tenants", "/v1/tenants", headers=ADMIN)
        assert [t["id"] for t in listed["items"]] == ["shop-a"]
        me = call(client, "GET", "/v1/me", "/v1/me", headers=key_header(key))
        assert me["tenant_id"] == "shop-a"
    assert seen == {200, 201, 401, 403, 404, 409, 413, 422, 503}
