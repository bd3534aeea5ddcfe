"""Tenant lifecycle: create (with provisioning), read, update, soft delete and purge."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from recsys_platform.catalog.schemas import TEMPLATES, CatalogSchema
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import (
    ApiKey,
    CatalogItem,
    ProvisionedResource,
    Tenant,
    utcnow,
)
from recsys_platform.errors import Conflict, DependencyUnavailable, FieldError, NotFound
from recsys_platform.provisioning.ports import Provisioner, ResourceRef, TenantContext
from recsys_platform.tenancy.auth_changes import AuthChange, AuthChangePublisher
from recsys_platform.tenancy.lookup import active_tenant
from recsys_platform.tenancy.schemas import (
    Quotas,
    ResourcePublic,
    Retention,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

log = logging.getLogger(__name__)


class TenantService:
    """The only writer of tenant rows. Provisioning runs through the ``Provisioner`` port."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provisioners: Sequence[Provisioner],
        changes: AuthChangePublisher | None = None,
    ) -> None:
        self._sessions = sessions
        self._provisioners = list(provisioners)
        self._changes = changes

    def _announce(self, tenant_id: str) -> None:
        """Tell the gateways to drop the tenant's cached keys and quotas (after the commit)."""
        if self._changes is not None:
            self._changes.publish(AuthChange("tenant", tenant_id))

    # -- create ----------------------------------------------------------------------------

    def create(self, spec: TenantCreate) -> TenantPublic:
        """Create a tenant and its resources, all or nothing.

        The row is inserted first in status ``provisioning`` (the primary key stops a
        concurrent duplicate before any resource is touched), then each provisioner
        runs; if one fails, what was created is removed again, the row is deleted and
        a 503 says which backend failed.
        """
        schema = spec.catalog_schema or TEMPLATES[spec.use_case]
        now = utcnow()
        with transaction(self._sessions) as s:
            existing = s.get(Tenant, spec.id, with_for_update=True)
            if existing is not None and existing.status == "deleting":
                raise Conflict(
                    f"tenant '{spec.id}' is being deleted and its data is not purged yet; the id can "
                    "be reused once DELETE /v1/tenants/{id} has completed (repeat it to resume the purge)",
                    [FieldError("id", "purge of the previous tenant with this id is not complete")],
                )
            if existing is not None and existing.status != "deleted":
                raise Conflict(f"tenant '{spec.id}' already exists", [FieldError("id", "already exists")])
            if existing is not None:  # a purged tenant's id may be reused
                s.execute(delete(ApiKey).where(ApiKey.tenant_id == spec.id))
                s.execute(delete(Tenant).where(Tenant.id == spec.id))
                s.expunge(existing)
            s.add(
                Tenant(
                    id=spec.id,
                    display_name=spec.display_name,
                    use_case=spec.use_case,
                    status="provisioning",
                    quotas=spec.quotas.model_dump(),
                    retention=spec.retention.model_dump(),
                    catalog_schema=schema.model_dump(mode="json"),
                    labels=dict(spec.labels),
                    created_at=now,
                    updated_at=now,
                )
            )
        context = TenantContext(spec.id, spec.use_case, spec.retention)
        created: list[tuple[Provisioner, list[ResourceRef]]] = []
        try:
            for provisioner in self._provisioners:
                created.append((provisioner, provisioner.provision(context)))
        except Exception as exc:
            failed = self._provisioners[len(created)].name
            log.warning("provisioning failed; rolling back", extra={"provisioner": failed, "error": str(exc)})
            self._undo(spec.id, created)
            with transaction(self._sessions) as s:
                s.execute(delete(Tenant).where(Tenant.id == spec.id))
            raise DependencyUnavailable(
                f"could not provision tenant '{spec.id}' in {failed}: {exc}; nothing was kept",
                headers={"Retry-After": "5"},
            ) from exc
        with transaction(self._sessions) as s:
            tenant = s.get_one(Tenant, spec.id)
            for provisioner, refs in created:
                for ref in refs:
                    s.add(
                        ProvisionedResource(
                            tenant_id=spec.id, provisioner=provisioner.name, kind=ref.kind, name=ref.name
                        )
                    )
            tenant.status = "active"
        return self.get(spec.id)

    def upgrade_resources(self) -> int:
        """Bring every active tenant's resources to this version's shape (e.g. new Feast
        fields), through each provisioner that has an idempotent ``upgrade``; returns how
        many tenants were upgraded. A failure is logged and the next start tries again."""
        upgraders = [p for p in self._provisioners if callable(getattr(p, "upgrade", None))]
        if not upgraders:
            return 0
        done = 0
        for tenant in self.list_tenants():
            if tenant.status != "active":
                continue
            context = TenantContext(tenant.id, tenant.use_case, tenant.retention)
            try:
                for provisioner in upgraders:
                    provisioner.upgrade(context)  # type: ignore[attr-defined]
                done += 1
            except Exception:
                log.warning("upgrading the resources of tenant %s failed", tenant.id, exc_info=True)
        return done

    # -- read ------------------------------------------------------------------------------

    def get(self, tenant_id: str, include_deleted: bool = False) -> TenantPublic:
        with self._sessions() as s:
            tenant = s.get(Tenant, tenant_id, options=[selectinload(Tenant.resources)])
            if tenant is None or (tenant.status == "deleted" and not include_deleted):
                raise NotFound(f"tenant '{tenant_id}' not found", [FieldError("tenant_id", "unknown")])
            return to_public(tenant)

    def list_tenants(self, include_deleted: bool = False) -> list[TenantPublic]:
        with self._sessions() as s:
            q = select(Tenant).options(selectinload(Tenant.resources)).order_by(Tenant.id)
            if not include_deleted:
                q = q.where(Tenant.status != "deleted")
            return [to_public(t) for t in s.scalars(q)]

    # -- update ----------------------------------------------------------------------------

    def update(self, tenant_id: str, patch: TenantUpdate) -> TenantPublic:
        with transaction(self._sessions) as s:
            tenant = active_tenant(s, tenant_id, for_update=True)
            if patch.display_name is not None:
                tenant.display_name = patch.display_name
            if patch.quotas is not None:
                merged = {**tenant.quotas, **patch.quotas.model_dump(exclude_none=True)}
                tenant.quotas = Quotas.model_validate(merged).model_dump()
            if patch.retention is not None:
                merged = {**tenant.retention, **patch.retention.model_dump(exclude_none=True)}
                tenant.retention = Retention.model_validate(merged).model_dump()
            if patch.labels is not None:
                tenant.labels = dict(patch.labels)
            tenant.updated_at = utcnow()
        self._announce(tenant_id)
        return self.get(tenant_id)

    # -- delete ----------------------------------------------------------------------------

    def delete(self, tenant_id: str) -> TenantPublic:
        """Soft-delete (keys stop working at once), then purge resources and catalog.

        If a backend fails the tenant stays ``deleting`` and a repeated DELETE resumes.
        """
        with transaction(self._sessions) as s:
            tenant = s.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None or tenant.status == "deleted":
                raise NotFound(f"tenant '{tenant_id}' not found", [FieldError("tenant_id", "unknown")])
            if tenant.status == "provisioning":
                raise Conflict(f"tenant '{tenant_id}' is still being provisioned; retry shortly")
            now = utcnow()
            tenant.status = "deleting"
            tenant.deleted_at = tenant.deleted_at or now
            s.execute(
                update(ApiKey)
                .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            resources = [(r.provisioner, ResourceRef(r.kind, r.name)) for r in tenant.resources]
        self._announce(tenant_id)  # its keys stop working on the gateways now, not after the purge
        by_name = {p.name: p for p in self._provisioners}
        # Every configured backend purges, also one that recorded nothing for this tenant (a
        # tenant onboarded before that backend existed still left data in it).
        for name in dict.fromkeys([*(p for p, _ in resources), *by_name]):
            refs = [ref for p, ref in resources if p == name]
            provisioner = by_name.get(name)
            if provisioner is None:
                raise DependencyUnavailable(
                    f"tenant '{tenant_id}' has {name} resources but no {name} provisioner is "
                    "configured; configure it and repeat the DELETE",
                    headers={"Retry-After": "30"},
                )
            try:
                provisioner.deprovision(tenant_id, refs)
            except Exception as exc:
                raise DependencyUnavailable(
                    f"purging tenant '{tenant_id}' in {name} failed: {exc}; repeat the DELETE",
                    headers={"Retry-After": "5"},
                ) from exc
            with transaction(self._sessions) as s:
                s.execute(
                    delete(ProvisionedResource).where(
                        ProvisionedResource.tenant_id == tenant_id,
                        ProvisionedResource.provisioner == name,
                    )
                )
        with transaction(self._sessions) as s:
            s.execute(delete(CatalogItem).where(CatalogItem.tenant_id == tenant_id))
            tenant = s.get_one(Tenant, tenant_id)
            tenant.status = "deleted"
            tenant.updated_at = utcnow()
        return self.get(tenant_id, include_deleted=True)

    def _undo(self, tenant_id: str, created: list[tuple[Provisioner, list[ResourceRef]]]) -> None:
        for provisioner, refs in reversed(created):
            try:
                provisioner.deprovision(tenant_id, refs)
            except Exception:
                log.exception(
                    "rollback of %s failed; resources may remain",
                    provisioner.name,
                    extra={"resources": [r.name for r in refs]},
                )


def to_public(tenant: Tenant) -> TenantPublic:
    return TenantPublic(
        id=tenant.id,
        display_name=tenant.display_name,
        use_case=tenant.use_case,
        status=tenant.status,
        quotas=Quotas.model_validate(tenant.quotas),
        retention=Retention.model_validate(tenant.retention),
        catalog_schema=CatalogSchema.model_validate(tenant.catalog_schema),
        labels=dict(tenant.labels or {}),
        resources=[
            ResourcePublic(provisioner=r.provisioner, kind=r.kind, name=r.name)
            for r in sorted(tenant.resources, key=lambda r: (r.kind, r.name))
        ],
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        deleted_at=tenant.deleted_at,
    )
