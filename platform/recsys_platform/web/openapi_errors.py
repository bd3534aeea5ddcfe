"""Error responses in the OpenAPI documents: every route lists the problem+json statuses the
shared layers can answer with (authentication, tenant lookup, body limit, validation,
dependencies), so a client generator and a fuzzer know them; a route adds its own in
``responses=`` (``502`` on deployments)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI

from recsys_platform.web.openapi import problem_response as openapi_problem_response


def problem_response(status: int) -> dict[str, Any]:
    """One ``responses`` entry: the problem+json body as the ``ProblemDetails`` component of
    :mod:`recsys_platform.web.openapi` (one schema for every error in the document)."""
    return openapi_problem_response(status)


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
