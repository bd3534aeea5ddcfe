"""Reading the presented credential from a request's headers.

Precedence: a request carries its key in ``Authorization: Bearer <key>`` or in ``X-API-Key``
(the two are equivalent). When both headers are sent they must carry the same key; two
different values are refused with 401 rather than one silently winning, so a stray or
garbage ``X-API-Key`` (a proxy default, a stale client setting) can neither override nor be
overridden by the bearer token. An empty ``X-API-Key`` counts as absent.
"""

from __future__ import annotations

import hmac

from recsys_platform.errors import FieldError, Unauthenticated


def bearer_token(authorization: str | None, x_api_key: str | None) -> str:
    """The presented token from ``Authorization: Bearer`` and/or ``X-API-Key`` (see module doc)."""
    api_key = x_api_key.strip() if x_api_key else ""
    bearer: str | None = None
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "Authorization header must be 'Bearer <api key>'",
                [FieldError("authorization", "expected 'Bearer <api key>'")],
                headers={"WWW-Authenticate": "Bearer"},
            )
        bearer = token.strip()
    if bearer is not None and api_key and not hmac.compare_digest(bearer.encode(), api_key.encode()):
        raise Unauthenticated(
            "conflicting credentials: 'Authorization' and 'X-API-Key' carry different keys; send one",
            [
                FieldError("authorization", "differs from X-API-Key"),
                FieldError("x-api-key", "differs from the Authorization bearer token"),
            ],
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = bearer or api_key
    if not token:
        raise Unauthenticated(
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
            [FieldError("authorization", "missing")],
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token
