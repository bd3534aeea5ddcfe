"""Announcements that cached credentials changed: a key revoked or rotated, a tenant
deleted or its quotas changed. The control plane publishes; each gateway drops what it cached.

Two adapters behind one port:

* :class:`RedisAuthChanges`: Redis pub/sub on :data:`CHANNEL`, for gateways in other
  processes (Kubernetes). A gateway that (re)connects to Redis drops its whole cache, because
  it may have missed announcements while disconnected; while Redis is unreachable an entry
  lives at most ``key_cache_seconds``.
* :class:`LocalAuthChanges`: in-process callbacks, for the embedded platform (control plane
  and gateway in one process), and for any publisher when no Redis is configured.

A message is ``key <prefix>`` or ``tenant <tenant_id>``; nothing secret crosses the channel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)

#: The Redis pub/sub channel of credential changes.
CHANNEL = "recsys:auth-changes"


@dataclass(frozen=True)
class AuthChange:
    """What changed: one key (by its public prefix) or everything of one tenant."""

    kind: Literal["key", "tenant"]
    name: str

    def encode(self) -> str:
        return f"{self.kind} {self.name}"

    @staticmethod
    def decode(raw: str | bytes) -> AuthChange | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        kind, _, name = text.partition(" ")
        if kind in ("key", "tenant") and name:
            return AuthChange(kind, name)  # type: ignore[arg-type]
        return None


class AuthChangePublisher(Protocol):
    """Where the control plane announces changes (after they are committed)."""

    def publish(self, change: AuthChange) -> None: ...


class FanOut:
    """Publishes each change to every publisher given (none: a no-op)."""

    def __init__(self, publishers: list[AuthChangePublisher]) -> None:
        self._publishers = publishers

    def publish(self, change: AuthChange) -> None:
        for publisher in self._publishers:
            publisher.publish(change)


Listener = Callable[[AuthChange | None], None]
"""Called with a change, or with None: "drop everything" (a missed-messages reset)."""


class LocalAuthChanges:
    """In-process fan-out: publishing calls every listener before it returns."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns the function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, change: AuthChange) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(change)


class RedisAuthChanges:
    """Publishes to, or listens on, :data:`CHANNEL` of a Redis server.

    A publish that fails is logged, not raised: the change is committed already, and the
    gateways' entries expire on their own (``key_cache_seconds``).
    """

    def __init__(self, redis_url: str, *, reconnect_seconds: float = 1.0) -> None:
        import redis

        self._url = redis_url
        self._client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._reconnect = reconnect_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        """Set while the listener is subscribed (tests wait on it)."""

    def publish(self, change: AuthChange) -> None:
        try:
            self._client.publish(CHANNEL, change.encode())
        except Exception as exc:  # the change is committed; the gateways' TTL still bounds it
            log.warning(
                "could not announce a credential change", extra={"change": change.encode(), "error": str(exc)}
            )

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for each announcement, from a daemon thread, until :meth:`close`."""
        self._thread = threading.Thread(target=self._run, args=(listener,), name="auth-changes", daemon=True)
        self._thread.start()

    def _run(self, listener: Listener) -> None:
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(CHANNEL)
                pubsub.get_message(timeout=1.0)  # the subscribe confirmation
                listener(None)  # announcements may have been missed before (re)connecting
                self.connected.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        change = AuthChange.decode(message["data"])
                        if change is not None:
                            listener(change)
            except Exception as exc:
                if self.connected.is_set():
                    log.warning("lost the credential-change channel; reconnecting", extra={"error": str(exc)})
                self.connected.clear()
                self._stop.wait(self._reconnect)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: S110 - closing a broken connection
                    pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()
