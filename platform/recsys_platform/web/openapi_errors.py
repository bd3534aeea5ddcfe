"""Error responses in the OpenAPI documents: every route lists the problem+json statuses the
shared layers can answer with (authentication, tenant lookup, body limit, validation,
dependencies), so a client generator and a fuzzer know them; a route adds its own in
``responses=`` (``502`` on deployments)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from recsys_platform.web.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def problem_response(status: int) -> dict[str, Any]:
    """One ``responses`` entry: the status's phrase and the problem+json body."""
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    }


def document_problem_responses(
    app: FastAPI,
    common: Iterable[int],
    by_method: Mapping[str, Iterable[int]] | None = None,
    skip_paths: Iterable[str | None] = (),
) -> None:
    """Add ``common`` (and, per HTTP method, ``by_method``) error statuses to every operation
    of the app's OpenAPI document but those under ``skip_paths`` (health and metrics).

    Done on the generated document (FastAPI includes routers lazily, so the route objects
    are not all there to annotate); the statuses a route declares itself are kept.
    """
    generate = app.openapi
    skipped = set(skip_paths)
    base = {int(s) for s in common}
    extra = {m.lower(): {int(s) for s in v} for m, v in (by_method or {}).items()}

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it: annotating twice changes nothing
        for path, operations in schema.get("paths", {}).items():
            if path in skipped:
                continue
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(base | extra.get(method, set())):
                    # 422 is FastAPI's own (validation) entry: our body is problem+json
                    if str(status) not in responses or status == 422:
                        responses[str(status)] = problem_response(status)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
