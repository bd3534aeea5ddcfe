"""Feast adapter of the provisioning port: one Feast project per tenant."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

from recsys_platform.features.feast_repo import FeastStores, ping_online_store, project_name, repo_objects
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.provisioning.ports import ResourceRef, TenantContext

log = logging.getLogger(__name__)
KIND = "feast_project"


class FeastProvisioner:
    """Applies the tenant's generated Feast repository and tears it down again.

    Teardown is scoped to the tenant's project. It does not use
    ``FeatureStore.teardown()``, which deletes *every* project of the registry
    (all tenants when they share a SQL registry).
    """

    name = "feast"

    def __init__(self, settings: FeatureStoreSettings, stores: FeastStores | None = None) -> None:
        if stores is not None and stores.settings != settings:
            raise ValueError("stores were built for other feature store settings")
        self._settings = settings
        self._stores = stores or FeastStores(settings)

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        """Apply entities, sources and feature views (applying again changes nothing)."""
        store = self._stores.get(tenant.tenant_id)
        with self._stores.online_lock or nullcontext():
            store.apply(repo_objects(self._settings, tenant.tenant_id, tenant.use_case))
        return [ResourceRef(KIND, project_name(tenant.tenant_id))]

    def upgrade(self, tenant: TenantContext) -> None:
        """Apply this version's repository to an existing project (new fields of
        ``user_realtime``); rows written before keep their values and read the new fields empty."""
        self.provision(tenant)

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        """Delete every online row of the tenant's project, then the project in the registry.

        The objects to tear down come from the generated repository, not the
        registry, so a half-removed project (registry already gone) is cleaned
        up too; a project that is fully gone is not an error.
        """
        if not any(r.kind == KIND for r in resources):
            return
        from feast import Entity, FeatureView

        project = project_name(tenant_id)
        objects = repo_objects(self._settings, tenant_id, "unknown")
        views = [o for o in objects if isinstance(o, FeatureView)]
        entities = [o for o in objects if isinstance(o, Entity)]
        store = self._stores.get(tenant_id)
        with self._stores.online_lock or nullcontext():
            try:
                store.provider.teardown_infra(project, views, entities)
                self._delete_registry(store, project)
            finally:
                self._stores.evict(tenant_id)
        log.info("feast project removed", extra={"tenant_id": tenant_id, "project": project})

    def _delete_registry(self, store: Any, project: str) -> None:
        from feast.errors import ProjectNotFoundException, ProjectObjectNotFoundException

        if not self._settings.registry_url:
            store.registry.teardown()  # the tenant's own registry file
            return
        registry = store.registry
        try:
            registry.delete_project(project)
        except (ProjectNotFoundException, ProjectObjectNotFoundException):
            log.debug("feast project %s was not in the registry", project)
        _sweep_sql_registry(registry, project)

    def check(self) -> None:
        """Raise if the online store cannot be reached."""
        ping_online_store(self._settings)

    def close(self) -> None:
        """Close the cached stores' online-store connections."""
        self._stores.close()


def _sweep_sql_registry(registry: Any, project: str) -> None:
    """Delete the project's rows left in any SQL registry table.

    feast 0.67's ``SqlRegistry.delete_project`` leaves ``feature_view_version_history``
    behind, and applying the project again then fails on its primary key.
    """
    from feast.infra.registry.sql import metadata

    with registry.write_engine.begin() as conn:
        for table in metadata.sorted_tables:
            if "project_id" in table.c:
                conn.execute(table.delete().where(table.c.project_id == project))
