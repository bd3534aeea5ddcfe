"""The control-plane client the CLI and ``recsys tenants apply`` use: the typed
:class:`recsys_client.ControlPlaneClient` (retries, problem details as exceptions, connection
errors naming the URL) plus untyped ``get/post/...`` for commands that print raw answers."""

from __future__ import annotations

from typing import Any

import httpx
from recsys_client import ApiError, ConnectionFailed
from recsys_client import ControlPlaneClient as TypedControlPlaneClient

__all__ = ["ApiError", "ConnectionFailed", "ControlPlaneClient"]


class ControlPlaneClient(TypedControlPlaneClient):
    """Pass ``http`` to reuse a client (FastAPI's ``TestClient`` is an ``httpx.Client``)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout, http=http)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
