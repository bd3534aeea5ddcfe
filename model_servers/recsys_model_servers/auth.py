"""The model server's one gate: the deployment's token, and loopback binding.

KServe builds its REST app (``kserve.model_server.app``) and binds ``0.0.0.0`` itself; these
two helpers put a token check in front of that app and make it bind ``settings.host``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

#: Same header as the platform's ``recsys_platform.deploy.tokens.MODEL_TOKEN_HEADER``.
TOKEN_HEADER = b"x-recsys-model-token"
#: Probes the kubelet, the local supervisor and Prometheus call without a token.
OPEN_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/metrics"})


class TokenMiddleware:
    """Pure ASGI: a request without the deployment's token gets 401 (health probes pass)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = next((v for k, v in scope.get("headers", ()) if k == TOKEN_HEADER), b"")
        if hmac.compare_digest(presented, self._token):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "missing or wrong X-Recsys-Model-Token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def secure_kserve_app(host: str, token: str | None) -> None:
    """Before ``ModelServer.start``: the token check on KServe's app, and bind ``host``."""
    from kserve import model_server
    from kserve.protocol.rest.server import RESTServer

    if token:
        model_server.app.add_middleware(TokenMiddleware, token=token)

    class _BoundRESTServer(RESTServer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host  # KServe hard-codes 0.0.0.0; uvicorn reads it at bind time

    model_server.RESTServer = _BoundRESTServer
