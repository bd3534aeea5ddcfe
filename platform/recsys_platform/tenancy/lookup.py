"""The one lookup of an active tenant row, shared by every service that writes for one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from recsys_platform.db.models import Tenant
from recsys_platform.errors import FieldError, NotFound


def active_tenant(s: Session, tenant_id: str, *, for_update: bool = False) -> Tenant:
    """The tenant row if it is ``active``; otherwise a 404 naming ``tenant_id``."""
    q = select(Tenant).where(Tenant.id == tenant_id)
    if for_update:
        q = q.with_for_update()
    tenant = s.scalar(q)
    if tenant is None or tenant.status != "active":
        raise NotFound(f"tenant '{tenant_id}' not found", [FieldError("tenant_id", "unknown")])
    return tenant
