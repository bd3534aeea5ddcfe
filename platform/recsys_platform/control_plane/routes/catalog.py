"""``/v1/tenants/{tenant_id}/catalog``: declared schema and bulk item import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from recsys_platform.catalog.schemas import (
    CatalogSchema,
    ItemBatch,
    ItemBatchResult,
    ItemPage,
    ItemPublic,
)
from recsys_platform.control_plane.deps import ServicesDep, TenantAdminDep, TenantPath

router = APIRouter(prefix="/v1/tenants/{tenant_id}/catalog", tags=["catalog"])
# ":path" in the routes: item ids may contain "/" (sent percent-encoded as %2F or plain).
ItemIdPath = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/schema", response_model=CatalogSchema)
def get_schema(tenant_id: TenantPath, services: ServicesDep, _: TenantAdminDep) -> CatalogSchema:
    return services.catalog.get_schema(tenant_id)


@router.put("/schema", response_model=CatalogSchema)
def put_schema(
    tenant_id: TenantPath, body: CatalogSchema, services: ServicesDep, _: TenantAdminDep
) -> CatalogSchema:
    """Replace the declared item fields. With items stored, only additive changes pass."""
    return services.catalog.replace_schema(tenant_id, body)


@router.post("/items", response_model=ItemBatchResult)
async def import_items(
    tenant_id: TenantPath, body: ItemBatch, services: ServicesDep, _: TenantAdminDep
) -> ItemBatchResult:
    """Upsert up to 10,000 items. Valid records are stored even when others are rejected;
    the result lists every record's status and, for rejected ones, each field and reason."""
    return await run_in_threadpool(services.catalog.upsert, tenant_id, body.items)


@router.get("/items", response_model=ItemPage)
def list_items(
    tenant_id: TenantPath,
    services: ServicesDep,
    _: TenantAdminDep,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=400),
) -> ItemPage:
    return services.catalog.list_items(tenant_id, limit, cursor)


@router.get("/items/{item_id:path}", response_model=ItemPublic)
def get_item(
    tenant_id: TenantPath, item_id: ItemIdPath, services: ServicesDep, _: TenantAdminDep
) -> ItemPublic:
    return services.catalog.get(tenant_id, item_id)


@router.delete("/items/{item_id:path}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(
    tenant_id: TenantPath, item_id: ItemIdPath, services: ServicesDep, _: TenantAdminDep
) -> Response:
    services.catalog.delete(tenant_id, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
