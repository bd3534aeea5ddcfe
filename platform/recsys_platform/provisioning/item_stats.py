"""Item-state adapter of the provisioning port: a tenant's streaming item state goes with it."""

from __future__ import annotations

import logging

from recsys_platform.provisioning.ports import ResourceRef, TenantContext
from recsys_platform.streaming.ports import ItemStatsStore

log = logging.getLogger(__name__)
KIND = "item_stats"


class ItemStatsProvisioner:
    """Owns nothing at onboarding (the stream processor creates the state on the first event);
    at purge it deletes every key or row of the tenant's streaming item state, so a tenant
    onboarded later with the same id starts empty."""

    name = "item_stats"

    def __init__(self, store: ItemStatsStore) -> None:
        self._store = store

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        return [ResourceRef(KIND, tenant.tenant_id)]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        """Delete the tenant's state whether or not it was recorded (tenants older than it)."""
        self._store.delete_tenant(tenant_id)
        log.info("streaming item state removed", extra={"tenant_id": tenant_id})

    def add_items(self, tenant_id: str, items: list[tuple[str, int]]) -> None:
        """New catalog items with their publish time (ms): the tenant's ``fresh`` signal."""
        self._store.add_items(tenant_id, items)

    def check(self) -> None:
        self._store.check()

    def close(self) -> None:
        self._store.close()
