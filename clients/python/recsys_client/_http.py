"""The HTTP layer both clients share: authentication, retries with backoff and jitter
(honouring ``Retry-After``), problem details raised as exceptions, connection errors that name
the URL. One :class:`Call` describes a request; :class:`SyncHttp` and :class:`AsyncHttp` run it."""

import asyncio
import email.utils
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Generic, Optional, TypeVar

import httpx

from recsys_client.errors import ConnectionFailed, error_for

T = TypeVar("T")

USER_AGENT = "recsys-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    ``429`` is always retried (the service refused before doing anything); ``502``/``503``/
    ``504`` and connection failures are retried for requests that are safe to repeat (reads,
    ``PUT``/``PATCH``/``DELETE``, and ``POST``s the API makes idempotent, such as events with
    their ``event_id``). The wait is the answer's ``Retry-After`` when it sends one (capped at
    ``max_retry_after``), else "full jitter" exponential backoff: uniform in
    ``[0, min(max_backoff, backoff * 2**attempt)]``.
    """

    max_attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    statuses: tuple[int, ...] = (429, 502, 503, 504)

    def delay(self, attempt: int, retry_after: Optional[str]) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        parsed = parse_retry_after(retry_after)
        if parsed is not None:
            return min(parsed, self.max_retry_after)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (None if absent/bad)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Optional[dict[str, Any]] = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: Optional[bool] = None
    """Safe to repeat after a 5xx or a dropped connection (default: every method but POST, and
    a POST that carries an ``Idempotency-Key``: the control plane answers its retries once)."""

    @property
    def repeatable(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() != "POST" or "Idempotency-Key" in self.headers


def _body(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class _Core:
    def __init__(
        self,
        base_url: str,
        token: Optional[str],
        retry: Optional[RetryPolicy],
        hint: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._hint = hint
        self._headers = {"User-Agent": USER_AGENT}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _should_retry(self, call: "Call[Any]", status: int, attempt: int) -> bool:
        if attempt + 1 >= self.retry.max_attempts or status not in self.retry.statuses:
            return False
        return status == 429 or call.repeatable

    def _finish(self, call: "Call[T]", response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_for(response.status_code, _body(response), dict(response.headers))
        return call.parse(_body(response))

    def _connection_failed(self, exc: httpx.TransportError) -> ConnectionFailed:
        reason = str(exc) or type(exc).__name__
        return ConnectionFailed(self.base_url, reason, self._hint)

    @staticmethod
    def _prepare(call: "Call[Any]") -> None:
        # one key per logical request, the same on every retry of it
        if call.method.upper() == "POST" and call.idempotent is None:
            call.headers.setdefault("Idempotency-Key", uuid.uuid4().hex)

    def _kwargs(self, call: "Call[Any]") -> dict[str, Any]:
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        return {"json": call.json, "params": params or None, "headers": {**self._headers, **call.headers}}


class SyncHttp(_Core):
    """Runs :class:`Call` s over an ``httpx.Client`` (pass ``http`` to reuse one)."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 10.0,
        retry: Optional[RetryPolicy] = None,
        http: Optional[httpx.Client] = None,
        hint: str = "",
    ) -> None:
        super().__init__(base_url, token, retry, hint)
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    def run(self, call: "Call[T]") -> T:
        self._prepare(call)
        attempt = 0
        while True:
            try:
                response = self._http.request(call.method, call.path, **self._kwargs(call))
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt + 1 >= self.retry.max_attempts or (sent and not call.repeatable):
                    raise self._connection_failed(exc) from exc
                time.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if self._should_retry(call, response.status_code, attempt):
                time.sleep(self.retry.delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            return self._finish(call, response)

    def request(
        self, method: str, path: str, json: Any = None, params: Optional[dict[str, Any]] = None
    ) -> Any:
        """Any request, answering the decoded JSON (None for 204)."""
        return self.run(Call(method, path, lambda body: body, json=json, params=params))

    def close(self) -> None:
        self._http.close()


class AsyncHttp(_Core):
    """Runs :class:`Call` s over an ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 10.0,
        retry: Optional[RetryPolicy] = None,
        http: Optional[httpx.AsyncClient] = None,
        hint: str = "",
    ) -> None:
        super().__init__(base_url, token, retry, hint)
        self._http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def run(self, call: "Call[T]") -> T:
        self._prepare(call)
        attempt = 0
        while True:
            try:
                response = await self._http.request(call.method, call.path, **self._kwargs(call))
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt + 1 >= self.retry.max_attempts or (sent and not call.repeatable):
                    raise self._connection_failed(exc) from exc
                await asyncio.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if self._should_retry(call, response.status_code, attempt):
                await asyncio.sleep(self.retry.delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            return self._finish(call, response)

    async def request(
        self, method: str, path: str, json: Any = None, params: Optional[dict[str, Any]] = None
    ) -> Any:
        """Any request, answering the decoded JSON (None for 204)."""
        return await self.run(Call(method, path, lambda body: body, json=json, params=params))

    async def aclose(self) -> None:
        await self._http.aclose()
