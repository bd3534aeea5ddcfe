"""Refuses a NUL character in a request's path, query or JSON body with a 422 naming the field.

A NUL reaches nothing well: PostgreSQL refuses it in text (a 500 from deep in a write),
``os`` functions raise on it, and a log line cut at it hides what follows. One check at the
edge answers every route the same way, before any store sees the value.

The body check costs a byte search per request; the JSON is parsed again only when the
escaped form ``\\u0000`` occurs (a raw NUL byte is not valid JSON and fails parsing anyway).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys_platform.errors import FieldError, InvalidInput, RecsysError

_ESCAPED_NUL = b"\\u0000"
_REASON = "contains a NUL character"
#: Batch bodies whose records are validated one by one (a bad record is rejected in the
#: per-record results and the good ones are kept): the record arrays are left to the route.
_PER_RECORD_BATCHES = (
    (re.compile(r"^/v1/events$"), "events"),
    (re.compile(r"^/v1/tenants/[^/]+/catalog/items$"), "items"),
)


class NulByteGuardMiddleware:
    """Pure ASGI: buffers a request body (already capped by the body size limit outside it),
    checks it, then replays it to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_path_or_query(scope)
        if found is not None:
            await _reject(scope, send, found)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except RecsysError as exc:  # the body size limit outside us refused a chunked body
            await _respond(scope, send, exc)
            return
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if _ESCAPED_NUL in body:
            field = _json_field_with_nul(body, _batch_key(scope.get("path", "")))
            if field is not None:
                await _reject(scope, send, field)
                return
        replay = iter(messages)

        async def replay_receive() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()  # http.disconnect after the body

        await self.app(scope, replay_receive, send)


def _in_path_or_query(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return f"query.{name.replace(chr(0), '')}"
    return None


def _batch_key(path: str) -> str | None:
    return next((key for pattern, key in _PER_RECORD_BATCHES if pattern.match(path)), None)


def _json_field_with_nul(body: bytes, batch_key: str | None = None) -> str | None:
    """The dotted location of the first string (key or value) holding a NUL, else None;
    ``batch_key``: a top-level array of records the route checks one by one."""
    try:
        docs: list[Any] = [json.loads(body)]
    except ValueError:  # JSON lines (catalog import), or not JSON at all
        docs = []
        for line in body.splitlines():
            if _ESCAPED_NUL in line:
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    return "body"
        if not docs:
            return None
    for doc in docs:
        if batch_key is not None and isinstance(doc, dict) and isinstance(doc.get(batch_key), list):
            doc = {k: v for k, v in doc.items() if k != batch_key}
        where = _walk(doc, "")
        if where is not None:
            return where or "body"
    return None


def _walk(value: Any, at: str) -> str | None:
    if isinstance(value, str):
        return at if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{at}.{key}" if at else str(key)
            if "\x00" in key:
                return here.replace("\x00", "\\u0000")
            found = _walk(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _walk(item, f"{at}.{i}" if at else str(i))
            if found is not None:
                return found
    return None


async def _reject(scope: Scope, send: Send, field: str) -> None:
    await _respond(scope, send, InvalidInput(f"{field}: {_REASON}", [FieldError(field, _REASON)]))


async def _respond(scope: Scope, send: Send, error: RecsysError) -> None:
    body = json.dumps(error.problem(instance=scope.get("path", "").replace("\x00", ""))).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
