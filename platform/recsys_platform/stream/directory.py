"""What the processor needs to know about tenants and items, read from the control plane's
database and cached (the catalog changes rarely compared with the event rate)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import CatalogItem, Tenant

#: Catalog attributes whose values are categories for affinity features.
CATEGORY_FIELDS = ("category", "genres")


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    use_case: str


class TenantDirectory:
    """Active tenants and each item's categories, refreshed every ``ttl_seconds``."""

    def __init__(self, sessions: sessionmaker[Session], ttl_seconds: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._tenants: tuple[float, dict[str, TenantInfo]] = (-1e9, {})
        self._items: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {}

    def tenant(self, tenant_id: str) -> TenantInfo | None:
        """The tenant if it is active. Reloaded when stale, and on every miss: an event is
        only accepted for an active tenant, so a miss means the cache predates the tenant
        (dead-lettering its events would lose them)."""
        loaded_at, tenants = self._tenants
        if _fresh(loaded_at, self._ttl, tenant_id in tenants, miss_after=0.0):
            return tenants.get(tenant_id)
        with self._sessions() as s:
            rows = s.execute(select(Tenant.id, Tenant.use_case).where(Tenant.status == "active"))
            tenants = {r.id: TenantInfo(r.id, r.use_case) for r in rows}
        self._tenants = (time.monotonic(), tenants)
        return tenants.get(tenant_id)

    def categories(self, tenant_id: str, item_id: str) -> tuple[str, ...]:
        """Categories of an item; () for an item not in the catalog. Reloaded when stale, or
        on a miss (at most every 5 s), so newly imported items are found."""
        loaded_at, items = self._items.get(tenant_id, (-1e9, {}))
        if not _fresh(loaded_at, self._ttl, item_id in items, miss_after=5.0):
            items = self._load_items(tenant_id)
            with self._lock:
                self._items[tenant_id] = (time.monotonic(), items)
        return items.get(item_id, ())

    def _load_items(self, tenant_id: str) -> dict[str, tuple[str, ...]]:
        with self._sessions() as s:
            rows = s.execute(
                select(CatalogItem.item_id, CatalogItem.attributes).where(CatalogItem.tenant_id == tenant_id)
            ).all()
        out: dict[str, tuple[str, ...]] = {}
        for item_id, attributes in rows:
            cats: list[str] = []
            for name in CATEGORY_FIELDS:
                value = attributes.get(name)
                if isinstance(value, str):
                    cats.append(value)
                elif isinstance(value, list):
                    cats.extend(v for v in value if isinstance(v, str))
            out[item_id] = tuple(cats)
        return out


def _fresh(loaded_at: float, ttl: float, hit: bool, miss_after: float) -> bool:
    age = time.monotonic() - loaded_at
    return age < ttl if hit else age < miss_after
