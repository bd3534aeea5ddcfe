"""Gateway authentication: API key -> tenant, scopes and quotas, cached."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import Tenant
from recsys_platform.errors import FieldError, Forbidden, Unauthenticated
from recsys_platform.tenancy.keys import ApiKeyService
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
    """Resolves keys through the control-plane database, caching each answer briefly.

    The cache is what keeps the database off the hot path: one lookup per key per
    ``ttl_seconds``. Revoking a key takes effect within that time.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl_seconds: float) -> None:
        self._keys = ApiKeyService(sessions, cache_ttl_seconds=ttl_seconds)
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._quotas: dict[str, tuple[float, Quotas]] = {}
        self._lock = threading.Lock()

    def authenticate(self, raw_key: str) -> TenantCaller:
        principal = self._keys.authenticate(raw_key)
        assert principal.tenant_id is not None and principal.key_id is not None
        return TenantCaller(
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            scopes=tuple(principal.scopes),
            quotas=self._tenant_quotas(principal.tenant_id),
        )

    def _tenant_quotas(self, tenant_id: str) -> Quotas:
        now = time.monotonic()
        with self._lock:
            hit = self._quotas.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self._sessions() as s:
            raw = s.scalar(select(Tenant.quotas).where(Tenant.id == tenant_id))
        if raw is None:
            raise Unauthenticated("the key's tenant is not active")
        quotas = Quotas.model_validate(raw)
        with self._lock:
            self._quotas[tenant_id] = (now + self._ttl, quotas)
        return quotas
