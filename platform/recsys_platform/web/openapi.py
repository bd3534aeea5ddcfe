"""The OpenAPI document every service publishes, made to tell the truth.

FastAPI's generated document is close but wrong in ways a client generator notices: no
security schemes (Swagger's *Authorize* does nothing), validation errors documented as
``HTTPValidationError`` although the body is ``application/problem+json``, error statuses the
service really answers (401, 403, 404, 409, 413, 429, 503) missing, and operation ids built
from the path (``post_events_v1_events_post``). :func:`install_openapi` replaces the app's
``openapi()`` with one that fixes these from what the routes declare and depend on:

* an operation that reads the ``Authorization`` / ``X-API-Key`` headers is secured by the
  ``bearerAuth`` and ``apiKeyAuth`` schemes and answers 401 and 403 (the header parameters
  themselves leave the document: the schemes describe them);
* an operation with a request body answers 413 (the body size limit) and 422;
* an operation with path parameters answers 404;
* routes declare the rest with ``responses=problem_responses(409, 429, ...)``;
* every error response is ``application/problem+json`` with the :class:`ProblemDetails` schema.

Only the document changes; request handling does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/ProblemDetails"

#: Why each error status is answered; the text of its documented response.
STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request.",
    401: "No credential, or one that is unknown, malformed or revoked.",
    403: "The credential is valid but lacks the scope, or belongs to another tenant.",
    404: "The resource (tenant, item, deployment, ...) does not exist.",
    409: "The resource already exists or is in a state that does not allow this.",
    413: "The request body exceeds the service's size limit.",
    422: "Invalid input; `errors` names each field and the reason.",
    429: "The tenant's quota is exhausted; retry after the `Retry-After` seconds.",
    502: "A model server did not start.",
    503: "A backing service did not answer; retry after the `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "example": "1"},
    }
}
_CREDENTIAL_HEADERS = {"authorization", "x-api-key"}


class ProblemFieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted location, e.g. `events.3.timestamp` or `authorization`.")
    reason: str = Field(description="Why the value was refused.")


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://recsys.dev/problems/invalid-input",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "user_id: String should have at least 1 character",
                    "instance": "/v1/recommendations",
                    "errors": [{"field": "user_id", "reason": "String should have at least 1 character"}],
                }
            ]
        },
    )

    type: str = Field(
        description="A URI naming the kind of error, e.g. `https://recsys.dev/problems/not-found`."
    )
    title: str = Field(description="Short summary of the kind of error.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this request, for a human.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="The invalid fields, when the error is about input."
    )


def problem_response(
    status: int, description: str | None = None, schema: str | None = None, retry_after: bool | None = None
) -> dict[str, Any]:
    """The documented response of one error status; ``schema`` names a component schema that
    extends :class:`ProblemDetails` (default: ``ProblemDetails``); ``retry_after`` documents the
    ``Retry-After`` header (default: for 429, which always sends it)."""
    ref = f"#/components/schemas/{schema}" if schema else PROBLEM_REF
    response: dict[str, Any] = {
        "description": description or STATUS_DESCRIPTIONS.get(status, "Error."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": ref}}},
    }
    if retry_after if retry_after is not None else status == 429:
        response["headers"] = dict(_RETRY_AFTER)
    return response


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses it answers besides the automatic ones
    (401/403 for secured routes, 404 with path parameters, 413/422 with a body).

    ``descriptions`` override the text per status: ``problem_responses(409, s409="...")``.
    """
    return {s: problem_response(s, descriptions.get(f"s{s}")) for s in statuses}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names: ``post_events``, ``create_tenant``."""
    return route.name


def install_openapi(
    app: FastAPI,
    *,
    security_description: str,
    extra_schemas: Iterable[type[BaseModel]] = (),
    schema_fixes: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Replace ``app.openapi`` with the corrected document (built once, then cached).

    ``extra_schemas`` are models the routes validate by hand (so FastAPI does not see them)
    that the document should still describe; ``schema_fixes`` edits the finished document
    (e.g. to point a ``list[Any]`` field at such a schema).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        models: list[type[BaseModel]] = [ProblemDetails, *extra_schemas]
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        components["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": security_description},
            "apiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same credential in the `X-API-Key` header (wins over `Authorization`).",
            },
        }
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                _fix_operation(operation)
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        if schema_fixes is not None:
            schema_fixes(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _fix_operation(operation: dict[str, Any]) -> None:
    params = operation.get("parameters", [])
    secured = any(p.get("in") == "header" and p["name"].lower() in _CREDENTIAL_HEADERS for p in params)
    kept = [p for p in params if not (p.get("in") == "header" and p["name"].lower() in _CREDENTIAL_HEADERS)]
    if kept:
        operation["parameters"] = kept
    else:
        operation.pop("parameters", None)
    responses = operation.setdefault("responses", {})
    automatic: list[int] = []
    if secured:
        operation["security"] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
        automatic += [401, 403]
    if any(p.get("in") == "path" for p in kept):
        automatic.append(404)
    if "requestBody" in operation:
        automatic += [413, 422]
    if kept or "requestBody" in operation:
        automatic.append(422)
    for status in automatic:
        responses.setdefault(str(status), problem_response(status))
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            # FastAPI's own 422 (HTTPValidationError) and routes' plain dicts become problem+json
            declared = response.get("content", {}).get(PROBLEM_JSON, {}).get("schema", {}).get("$ref")
            schema = declared.rsplit("/", 1)[-1] if declared else None
            fixed = problem_response(int(status), response.get("description"), schema, "headers" in response)
            if status == "422" or response.get("description") == "Validation Error":
                fixed["description"] = STATUS_DESCRIPTIONS[422]
            response.clear()
            response.update(fixed)
    operation["responses"] = dict(sorted(responses.items()))
