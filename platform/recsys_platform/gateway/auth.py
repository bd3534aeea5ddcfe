"""Gateway authentication: API key -> tenant, scopes and quotas, cached."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import Tenant
from recsys_platform.errors import FieldError, Forbidden, Unauthenticated
from recsys_platform.tenancy.auth_changes import AuthChange
from recsys_platform.tenancy.keys import ApiKeyService, parse_prefix
from recsys_platform.tenancy.schemas import Quotas, Scope


@dataclass(frozen=True)
class TenantCaller:
    """An authenticated call: which tenant, with which scopes and quotas."""

    tenant_id: str
    key_id: str
    scopes: tuple[Scope, ...]
    quotas: Quotas

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(
                f"this API key lacks the '{scope}' scope",
                [FieldError("authorization", f"scope '{scope}' required")],
            )


class GatewayAuth:
    """Resolves keys through the control-plane database, caching each answer.

    The cache is what keeps the database off the hot path: one lookup per key per
    ``ttl_seconds``. Revoking or rotating a key, deleting a tenant or changing its quotas is
    announced by the control plane (:mod:`recsys_platform.tenancy.auth_changes`) and
    :meth:`on_change` drops the affected entries at once; ``ttl_seconds`` only bounds an entry
    whose announcement was lost (Redis unreachable). A key's own ``expires_at`` ends its entry
    exactly. :meth:`cached` answers a hit without I/O, so the caller can skip a thread hop.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl_seconds: float) -> None:
        # no inner cache: this class caches whole callers, so staleness stays <= ttl_seconds
        self._keys = ApiKeyService(sessions, cache_ttl_seconds=0)
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._quotas: dict[str, tuple[float, Quotas]] = {}
        # by sha256 of the raw key: (expires at, caller, the key's public prefix)
        self._callers: dict[str, tuple[float, TenantCaller, str]] = {}
        self._generation = 0  # bumped by every change: a lookup that raced one is not cached
        self._lock = threading.Lock()

    def cached(self, raw_key: str) -> TenantCaller | None:
        """The caller of a key resolved less than ``ttl_seconds`` ago (no I/O), else None."""
        hit = self._callers.get(_digest(raw_key))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def authenticate(self, raw_key: str) -> TenantCaller:
        """The key's caller, from the cache or the database (blocking I/O on a miss)."""
        hit = self.cached(raw_key)
        if hit is not None:
            return hit
        generation = self._generation
        now = time.monotonic()
        principal = self._keys.authenticate(raw_key)
        assert principal.tenant_id is not None and principal.key_id is not None
        quotas_expire, quotas = self._tenant_quotas(principal.tenant_id)
        caller = TenantCaller(
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            scopes=tuple(principal.scopes),
            quotas=quotas,
        )
        expires = min(now + self._ttl, quotas_expire)
        if principal.expires_at is not None:  # an expiring key's entry ends when the key does
            expires = min(expires, now + (principal.expires_at - datetime.now(UTC)).total_seconds())
        if self._ttl > 0:
            with self._lock:
                if generation == self._generation:
                    self._callers[_digest(raw_key)] = (expires, caller, parse_prefix(raw_key) or "")
        return caller

    def on_change(self, change: AuthChange | None) -> None:
        """Drop what an announced change makes stale (``None``: everything)."""
        with self._lock:
            self._generation += 1
            if change is None:
                self._callers.clear()
                self._quotas.clear()
            elif change.kind == "key":
                for digest in [d for d, e in self._callers.items() if e[2] == change.name]:
                    del self._callers[digest]
            else:
                for digest in [d for d, e in self._callers.items() if e[1].tenant_id == change.name]:
                    del self._callers[digest]
                self._quotas.pop(change.name, None)

    def _tenant_quotas(self, tenant_id: str) -> tuple[float, Quotas]:
        now = time.monotonic()
        with self._lock:
            hit = self._quotas.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit
        generation = self._generation
        with self._sessions() as s:
            raw = s.scalar(select(Tenant.quotas).where(Tenant.id == tenant_id))
        if raw is None:
            raise Unauthenticated("the key's tenant is not active")
        entry = (now + self._ttl, Quotas.model_validate(raw))
        with self._lock:
            if generation == self._generation:
                self._quotas[tenant_id] = entry
        return entry


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()
