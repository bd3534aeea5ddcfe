"""Offline-store adapter of the provisioning port: a tenant's event and feature files go with it."""

from __future__ import annotations

import logging
import shutil

from recsys_platform.features.feast_repo import tenant_features_dir
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.provisioning.ports import ResourceRef, TenantContext

log = logging.getLogger(__name__)
KIND = "offline_files"


class OfflineStoreProvisioner:
    """Owns nothing at onboarding (the stream processor writes the first file); at purge it
    deletes the tenant's event Parquet files and its batch feature files, so a tenant
    onboarded later with the same id trains on nothing of the old owner's."""

    name = "offline_store"

    def __init__(self, settings: FeatureStoreSettings) -> None:
        self._settings = settings
        self._events = OfflineEventStore(settings.offline_root)

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        return [ResourceRef(KIND, tenant.tenant_id)]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        """Delete the files whether or not the resource was recorded (tenants older than it)."""
        for folder in (self._events.tenant_dir(tenant_id), tenant_features_dir(self._settings, tenant_id)):
            if folder.exists():
                shutil.rmtree(folder)  # raises on failure: the purge stays incomplete and resumes
        log.info("offline files removed", extra={"tenant_id": tenant_id})

    def check(self) -> None:
        """The offline root is a folder (or can become one)."""
        root = self._settings.offline_root
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"offline root {root} is not a folder")
