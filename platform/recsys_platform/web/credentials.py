"""Reading the presented credential from a request's headers."""

from __future__ import annotations

from recsys_platform.errors import FieldError, Unauthenticated


def bearer_token(authorization: str | None, x_api_key: str | None) -> str:
    """The presented token: ``X-API-Key`` wins over ``Authorization: Bearer``."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise Unauthenticated(
            "Authorization header must be 'Bearer <api key>'",
            [FieldError("authorization", "expected 'Bearer <api key>'")],
        )
    raise Unauthenticated(
        "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
        [FieldError("authorization", "missing")],
        headers={"WWW-Authenticate": "Bearer"},
    )
