"""Checks that an answer is what the service's OpenAPI document says it is."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

PROBLEM_JSON = "application/problem+json"


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The documented operation of a path template (``/v1/tenants/{tenant_id}``)."""
    op: dict[str, Any] = doc["paths"][path][method.lower()]
    return op


def validate(doc: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    """Validate ``body`` against a schema of the document (its ``$ref``s resolve in it)."""
    jsonschema.validate(body, {**schema, "components": doc["components"]})


def check_answer(doc: dict[str, Any], method: str, path: str, response: httpx.Response) -> dict[str, Any]:
    """Assert the answer's status is documented on the operation, with the documented media
    type, body schema and headers; returns the body."""
    op = operation(doc, method, path)
    status = str(response.status_code)
    documented = op["responses"]
    assert status in documented, (
        f"{method} {path} answered {status} ({response.text[:200]}) but documents only {sorted(documented)}"
    )
    spec = documented[status]
    media = response.headers.get("content-type", "").split(";")[0]
    if not spec.get("content"):
        return {}
    assert media in spec["content"], f"{method} {path} {status}: {media} not in {list(spec['content'])}"
    body: dict[str, Any] = response.json()
    validate(doc, spec["content"][media]["schema"], body)
    for header in spec.get("headers", {}):
        assert header.lower() in response.headers, f"{method} {path} {status}: no {header} header"
    if response.status_code >= 400:
        assert media == PROBLEM_JSON
        assert body["status"] == response.status_code
    return body


def check_document(doc: dict[str, Any]) -> None:
    """What every operation of the document must say: a stable operation id, every error as
    problem+json, security on operations that take a credential."""
    ids = []
    for item in doc["paths"].values():
        for method, op in item.items():
            op_id = op["operationId"]
            ids.append(op_id)
            assert "_v1_" not in op_id and not op_id.endswith(f"_{method}"), f"generated id {op_id}"
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM_JSON], f"{op_id} {status}"
                    ref = response["content"][PROBLEM_JSON]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[-1] in doc["components"]["schemas"]
            names = {p["name"].lower() for p in op.get("parameters", [])}
            assert not names & {"authorization", "x-api-key"}, f"{op_id}: credential as a parameter"
            if "security" in op:
                assert {"401", "403"} <= set(op["responses"]), op_id
    assert len(ids) == len(set(ids)), "operation ids are not unique"
    assert "HTTPValidationError" not in str(doc)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"]["name"] == "X-API-Key"
