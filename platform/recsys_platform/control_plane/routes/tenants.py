"""``/v1/tenants``: create, list, get, update, delete (platform admin)."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from recsys_platform.control_plane.deps import (
    PlatformAdminDep,
    PrincipalDep,
    ServicesDep,
    TenantAdminDep,
    TenantPath,
)
from recsys_platform.control_plane.pagination import CursorQuery, LimitQuery, page
from recsys_platform.tenancy.schemas import (
    Principal,
    TenantCreate,
    TenantLag,
    TenantList,
    TenantPublic,
    TenantUpdate,
)

router = APIRouter(prefix="/v1", tags=["tenants"])


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantPublic)
async def create_tenant(body: TenantCreate, services: ServicesDep, _: PlatformAdminDep) -> TenantPublic:
    """Onboard a tenant: store it and provision its topics and other resources."""
    return await run_in_threadpool(services.tenants.create, body)


@router.get("/tenants", response_model=TenantList)
def list_tenants(
    services: ServicesDep,
    _: PlatformAdminDep,
    include_deleted: bool = Query(default=False, description="Also list purged tenants."),
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> TenantList:
    items, next_cursor = page(
        services.tenants.list_tenants(include_deleted=include_deleted), _id, limit, cursor
    )
    return TenantList(items=items, next_cursor=next_cursor)


def _id(tenant: TenantPublic) -> str:
    return tenant.id


@router.get("/tenants/{tenant_id}", response_model=TenantPublic)
def get_tenant(tenant_id: TenantPath, services: ServicesDep, _: TenantAdminDep) -> TenantPublic:
    return services.tenants.get(tenant_id)


@router.patch("/tenants/{tenant_id}", response_model=TenantPublic)
def update_tenant(
    tenant_id: TenantPath, body: TenantUpdate, services: ServicesDep, _: PlatformAdminDep
) -> TenantPublic:
    """Change display name, quotas (merged), retention (merged) or labels (replaced)."""
    return services.tenants.update(tenant_id, body)


@router.delete("/tenants/{tenant_id}", response_model=TenantPublic)
async def delete_tenant(tenant_id: TenantPath, services: ServicesDep, _: PlatformAdminDep) -> TenantPublic:
    """Soft-delete (keys stop at once), then purge resources and catalog; repeat to resume."""
    return await run_in_threadpool(services.tenants.delete, tenant_id)


_log_lock = threading.Lock()


@router.get("/tenants/{tenant_id}/lag", response_model=TenantLag)
def tenant_lag(
    tenant_id: TenantPath, request: Request, services: ServicesDep, _: TenantAdminDep
) -> TenantLag:
    """Records of the tenant's events and impressions topics the stream processor has not
    processed yet (log end minus the processor group's committed offset); 503 if the event
    log cannot be reached."""
    from recsys_platform.events.factory import build_event_log
    from recsys_platform.provisioning.kafka_topics import topic_name

    services.tenants.get(tenant_id)  # 404 for an unknown tenant
    settings = services.settings
    with _log_lock:
        event_log = getattr(request.app.state, "event_log", None)
        if event_log is None:  # built on first use: the control plane starts without a broker
            event_log = build_event_log(settings.event_log, client_id="recsys-control-plane-lag")
            request.app.state.event_log = event_log
    prefix = settings.event_log.kafka.topic_prefix
    topics = [topic_name(prefix, tenant_id, kind) for kind in ("events", "impressions")]
    lag = event_log.group_lag(settings.stream_group_id, topics)
    return TenantLag(
        tenant_id=tenant_id, consumer_group=settings.stream_group_id, topics=lag, total=sum(lag.values())
    )


@router.get("/me", response_model=Principal, tags=["auth"])
def whoami(principal: PrincipalDep) -> Principal:
    """Who the presented credentials belong to."""
    return principal
