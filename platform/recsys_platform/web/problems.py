"""Exception handlers: every error leaves as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys_platform.errors import FieldError, InvalidInput, RecsysError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


def problem_response(error: RecsysError, request: Request) -> JSONResponse:
    return JSONResponse(
        error.problem(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers or None,
    )


def field_errors_from_validation(errors: Any, drop_prefix: int = 0) -> list[FieldError]:
    """Turn pydantic error dicts into ``FieldError`` with dotted locations."""
    out: list[FieldError] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())][drop_prefix:]
        reason = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            reason = f"malformed JSON: {ctx.get('error', 'cannot parse body')}"
            loc = ["body"]  # the location is a character offset, not a field
        out.append(FieldError(field=".".join(loc) or "body", reason=reason))
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Register handlers for domain errors, validation errors and HTTP errors."""

    @app.exception_handler(RecsysError)
    async def _domain(request: Request, exc: RecsysError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors_from_validation(exc.errors())
        # "body.display_name" -> "display_name": the client thinks in its payload's terms.
        errors = [
            FieldError(e.field.removeprefix("body.") if e.field != "body" else "body", e.reason)
            for e in errors
        ]
        summary = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5])
        return problem_response(InvalidInput(summary or "invalid request", errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        errors = []
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8 (or cannot be read): name the body.
            errors = [FieldError("body", "cannot be parsed: not UTF-8 encoded JSON")]
            exc.detail = "body: cannot be parsed: not UTF-8 encoded JSON"
        err = RecsysError(str(exc.detail), errors, headers=dict(exc.headers or {}))
        err.status = exc.status_code
        err.title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        err.type_slug = f"http-{exc.status_code}"
        return problem_response(err, request)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(RecsysError("internal error; see server logs"), request)
