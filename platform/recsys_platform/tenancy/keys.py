"""API keys: generated once, stored as SHA-256 hashes, recognised by a public prefix.

A key looks like ``rsk_<prefix>_<secret>``. Keys carry 256 bits of randomness, so a
fast hash is enough (no password stretching needed), and only the hash and the
prefix are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.engine import transaction
from recsys_platform.db.models import ApiKey, Tenant, utcnow
from recsys_platform.errors import FieldError, InvalidInput, NotFound, Unauthenticated
from recsys_platform.tenancy.auth_changes import AuthChange, AuthChangePublisher
from recsys_platform.tenancy.lookup import active_tenant
from recsys_platform.tenancy.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    Principal,
)

KEY_PREFIX = "rsk"
KeyStatus = Literal["active", "revoked", "expired"]
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class GeneratedKey:
    key: str
    prefix: str
    key_hash: str


def generate_key() -> GeneratedKey:
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return GeneratedKey(key=key, prefix=f"{KEY_PREFIX}_{prefix}", key_hash=hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8:
        return None
    return f"{parts[0]}_{parts[1]}"


def key_status(row: ApiKey, now: datetime | None = None) -> KeyStatus:
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def to_public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes,
        status=key_status(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class ApiKeyService:
    """Create, list, revoke, rotate and authenticate a tenant's API keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cache_ttl_seconds: float = 0.0,
        changes: AuthChangePublisher | None = None,
    ) -> None:
        self._sessions = sessions
        self._changes = changes
        self._cache_ttl = cache_ttl_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._cache_lock = threading.Lock()

    def create(self, tenant_id: str, spec: ApiKeyCreate) -> ApiKeyCreated:
        if spec.expires_at is not None and spec.expires_at <= datetime.now(UTC):
            raise InvalidInput(
                "expires_at: must be in the future", [FieldError("expires_at", "must be in the future")]
            )
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row, generated = _new_key_row(tenant_id, spec.name, list(spec.scopes), spec.expires_at)
            s.add(row)
        return ApiKeyCreated(**to_public(row).model_dump(), key=generated.key)

    def list_keys(self, tenant_id: str) -> list[ApiKeyPublic]:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            rows = s.scalars(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
            ).all()
            return [to_public(r) for r in rows]

    def revoke(self, tenant_id: str, key_id: str) -> ApiKeyPublic:
        with transaction(self._sessions) as s:
            row = _key(s, tenant_id, key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        self._invalidate_cache()
        self._announce(row.prefix)
        return to_public(row)

    def rotate(self, tenant_id: str, key_id: str) -> ApiKeyCreated:
        """Issue a replacement with the same name and scopes; the old key stops working now."""
        with transaction(self._sessions) as s:
            old = _key(s, tenant_id, key_id)
            if key_status(old) != "active":
                raise InvalidInput(
                    f"key {key_id} is {key_status(old)}; only active keys rotate",
                    [FieldError("key_id", f"key is {key_status(old)}")],
                )
            row, generated = _new_key_row(tenant_id, old.name, list(old.scopes), old.expires_at)
            s.add(row)
            old.revoked_at = utcnow()
            old.replaced_by = row.id
        self._invalidate_cache()
        self._announce(old.prefix)
        return ApiKeyCreated(**to_public(row).model_dump(), key=generated.key)

    def authenticate(self, raw_key: str) -> Principal:
        """Resolve a presented key to its tenant and scopes, or raise ``Unauthenticated``."""
        prefix = parse_prefix(raw_key)
        if prefix is None:
            raise Unauthenticated("malformed API key", [FieldError("authorization", "malformed API key")])
        digest = hash_key(raw_key)
        if self._cache_ttl > 0:
            with self._cache_lock:
                hit = self._cache.get(digest)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        now = utcnow()
        with self._sessions() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                raise Unauthenticated("unknown API key", [FieldError("authorization", "unknown API key")])
            status = key_status(row, now)
            if status != "active":
                raise Unauthenticated(
                    f"API key is {status}", [FieldError("authorization", f"API key is {status}")]
                )
            tenant = s.get(Tenant, row.tenant_id)
            if tenant is None or tenant.status != "active":
                raise Unauthenticated(
                    "the key's tenant is not active", [FieldError("authorization", "tenant is not active")]
                )
            principal = Principal(
                kind="api_key",
                tenant_id=row.tenant_id,
                key_id=row.id,
                scopes=list(row.scopes),
                expires_at=row.expires_at,
            )
            if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
                # Write at most once a minute per key: the hot path must not write each call.
                s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
                s.commit()
        if self._cache_ttl > 0:
            with self._cache_lock:
                self._cache[digest] = (time.monotonic() + self._cache_ttl, principal)
        return principal

    def _invalidate_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _announce(self, prefix: str) -> None:
        """Tell the gateways to drop what they cached of this key (after the commit)."""
        if self._changes is not None:
            self._changes.publish(AuthChange("key", prefix))


def _new_key_row(
    tenant_id: str, name: str, scopes: list[str], expires_at: datetime | None
) -> tuple[ApiKey, GeneratedKey]:
    generated = generate_key()
    row = ApiKey(
        id=secrets.token_hex(8),
        tenant_id=tenant_id,
        name=name,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        scopes=list(scopes),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    return row, generated


def _key(s: Session, tenant_id: str, key_id: str) -> ApiKey:
    row = s.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id))
    if row is None:
        raise NotFound(f"API key '{key_id}' not found", [FieldError("key_id", "unknown")])
    return row
