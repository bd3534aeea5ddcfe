"""``Idempotency-Key`` on the control plane's ``POST`` s (Stripe's convention).

A client that sends ``Idempotency-Key: <unique value>`` with a ``POST`` may retry it after a
timeout or a dropped connection without creating a second tenant, key, deployment or
training run: the first answer is stored (24 h) under the key and the caller's credential
and is sent again, with ``Idempotent-Replayed: true``, to every retry. The same key with a
different request is a 422; a retry while the first request still runs is a 409. Answers
of 5xx and 429 are not stored (the retry runs the request again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys_platform.db.models import IdempotencyRecord, utcnow

HEADER = b"idempotency-key"
MAX_KEY = 200
TTL = timedelta(hours=24)


class IdempotencyMiddleware:
    """Pure ASGI; the sessions come from ``app.state.sessions`` (set by the lifespan)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER)
        credential = headers.get(b"x-api-key") or headers.get(b"authorization")
        sessions: sessionmaker[Session] | None = getattr(scope["app"].state, "sessions", None)
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or raw_key is None
            or not credential
            or not sessions
        ):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not 0 < len(key) <= MAX_KEY:
            await _problem(
                send, 422, "Invalid input", f"Idempotency-Key: 1-{MAX_KEY} characters", "idempotency-key"
            )
            return
        body, messages, complete = await _read(receive, self.max_bytes)
        if not complete:  # over the size limit: the body-size check answers 413
            await self.app(scope, _replay(messages, receive), send)
            return
        digest = hashlib.sha256()
        for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")):
            digest.update(part.encode() + b"\0")
        digest.update(body)
        record_scope = hashlib.sha256(credential).hexdigest()
        claim = await to_thread.run_sync(_claim, sessions, record_scope, key, digest.hexdigest())
        if claim is not None:
            await claim(send)
            return

        captured: dict[str, Any] = {"status": 500, "body": b"", "type": None}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replay(messages, receive), capture)
        finally:
            await to_thread.run_sync(
                _settle, sessions, record_scope, key, captured["status"], captured["body"], captured["type"]
            )


def _claim(
    sessions: sessionmaker[Session], scope: str, key: str, request_hash: str
) -> Callable[[Send], Any] | None:
    """Record the key as in progress (None: go on), or the answer to send instead."""
    now = utcnow()
    with sessions() as s:
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
        s.add(IdempotencyRecord(scope=scope, key=key, request_hash=request_hash, expires_at=now + TTL))
        try:
            s.commit()
            return None
        except IntegrityError:
            s.rollback()
        row = s.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
    if row is None:  # settled and removed between the two statements: run the request again
        return _claim(sessions, scope, key, request_hash)
    if row.status is None:
        detail = "a request with this Idempotency-Key is still running; retry shortly"
        return lambda send: _problem(send, 409, "Conflict", detail, "idempotency-key", {"retry-after": "1"})
    if row.request_hash != request_hash:
        detail = "Idempotency-Key was already used with a different request; use a new key"
        return lambda send: _problem(send, 422, "Invalid input", detail, "idempotency-key")
    status, body, content_type = row.status, (row.body or "").encode(), row.content_type
    return lambda send: _send(send, status, body, content_type, {"idempotent-replayed": "true"})


def _settle(
    sessions: sessionmaker[Session], scope: str, key: str, status: int, body: bytes, content_type: str | None
) -> None:
    """Store the answer, or forget the key when the request should run again on a retry."""
    with sessions.begin() as s:
        row = s.get(IdempotencyRecord, (scope, key))
        if row is None:
            return
        if status >= 500 or status == 429:
            s.delete(row)
            return
        row.status, row.body, row.content_type = status, body.decode("utf-8", "replace"), content_type


async def _read(receive: Receive, max_bytes: int) -> tuple[bytes, list[Message], bool]:
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return b"", messages, False
        size += len(message.get("body", b""))
        if size > max_bytes:
            return b"", messages, False
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages, True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _send(
    send: Send, status: int, body: bytes, content_type: str | None, extra: dict[str, str]
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _problem(
    send: Send, status: int, title: str, detail: str, field: str, extra: dict[str, str] | None = None
) -> None:
    slug = {409: "conflict", 422: "invalid-input"}[status]
    body = json.dumps(
        {
            "type": f"https://recsys.dev/problems/{slug}",
            "title": title,
            "status": status,
            "detail": detail,
            "errors": [{"field": field, "reason": detail}],
        }
    ).encode()
    await _send(send, status, body, "application/problem+json", extra or {})
