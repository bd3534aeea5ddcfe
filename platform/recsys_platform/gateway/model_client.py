"""Calls to model servers (KServe V1 predict) over one pooled keep-alive HTTP client.

The client is aiohttp (C HTTP parser): per call it costs about a quarter of the CPU of
``httpx`` (pure-Python h11), which is most of the gateway's own overhead on this path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from opentelemetry import propagate, trace

from recsys_platform.deploy.tokens import MODEL_TOKEN_HEADER
from recsys_platform.errors import FieldError, InvalidInput, NotFound
from recsys_platform.gateway.routing import Target

_FIELD = re.compile(r"\b(filters\.[a-z_]+|user_id|session_id|similar_to|context(?:\.[\w-]+)?|history|n)\b")


#: "instances[0].filters.colour: unknown filter" -> "filters.colour" (KServe/ pydantic style).
_LEADING_FIELD = re.compile(r"^(?:instances\[\d+\]\.)?([a-z_][\w-]*(?:\.[\w-]+)*): ")


class ModelUnavailable(Exception):
    """Timeout, connection error or 5xx: the caller serves the fallback instead."""


def model_rejection(status: int, message: str) -> InvalidInput | NotFound:
    """A 4xx of the model server as our domain error, naming the field its message names."""
    lead = _LEADING_FIELD.match(message)
    match = _FIELD.search(message)
    fld = lead.group(1) if lead else match.group(1) if match else "request"
    if status == 404 or "unknown item" in message.lower():
        return NotFound(
            f"model server: {message}", [FieldError("item_id" if fld == "similar_to" else fld, message)]
        )
    return InvalidInput(f"model server rejected the request: {message}", [FieldError(fld, message)])


class ModelClient:
    """Owns the ``aiohttp.ClientSession`` (opened on first use, on the serving event loop);
    created and closed in the gateway lifespan."""

    def __init__(self, timeout_seconds: float, pool_size: int, tracer: trace.Tracer) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._tracer = tracer

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def predict(self, target: Target, instance: dict[str, Any]) -> dict[str, Any]:
        """One V1 predict call with one instance; returns the one prediction.

        Raises :class:`ModelUnavailable` (serve the fallback) or a domain 4xx error.
        """
        with self._tracer.start_as_current_span(
            "recsys.gateway.model_predict",
            kind=trace.SpanKind.CLIENT,
            attributes={"recsys.deployment": target.deployment, "http.request.method": "POST"},
        ) as span:
            headers: dict[str, str] = {MODEL_TOKEN_HEADER: target.token} if target.token else {}
            propagate.inject(headers)  # W3C traceparent of this client span
            try:
                async with self._http().post(
                    target.url, json={"instances": [instance]}, headers=headers
                ) as response:
                    status, body = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                span.set_attribute("error.type", type(exc).__name__)
                raise ModelUnavailable(f"{type(exc).__name__}: {exc}") from exc
            span.set_attribute("http.response.status_code", status)
            if status >= 500 or status in (401, 403):  # a token mismatch is ours, not the caller's
                raise ModelUnavailable(f"HTTP {status}")
            if status >= 400:
                raise model_rejection(status, _error_text(status, body))
            try:
                prediction = json.loads(body)["predictions"][0]
                if not isinstance(prediction, dict) or not isinstance(prediction.get("items"), list):
                    raise TypeError("prediction without an items list")
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ModelUnavailable(f"malformed answer: {exc}") from exc
            return prediction

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _error_text(status: int, body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    if isinstance(parsed, dict):
        for key in ("error", "detail", "message"):
            if key in parsed:
                return str(parsed[key])[:500]
    return str(parsed)[:500]
