"""``/v1/tenants/{tenant_id}/api-keys``: create (shown once), list, revoke, rotate."""

from __future__ import annotations

from fastapi import APIRouter, Path, status

from recsys_platform.control_plane.deps import ServicesDep, TenantAdminDep, TenantPath
from recsys_platform.control_plane.pagination import CursorQuery, LimitQuery, page
from recsys_platform.tenancy.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyPublic

router = APIRouter(prefix="/v1/tenants/{tenant_id}/api-keys", tags=["api keys"])
KeyPath = Path(pattern=r"^[0-9a-f]{16}$", description="API key id.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_key(
    tenant_id: TenantPath, body: ApiKeyCreate, services: ServicesDep, _: TenantAdminDep
) -> ApiKeyCreated:
    """Create a key. The response holds the secret once; only its hash is stored."""
    return services.keys.create(tenant_id, body)


@router.get("", response_model=ApiKeyList)
def list_keys(
    tenant_id: TenantPath,
    services: ServicesDep,
    _: TenantAdminDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> ApiKeyList:
    items, next_cursor = page(services.keys.list_keys(tenant_id), lambda k: k.id, limit, cursor)
    return ApiKeyList(items=items, next_cursor=next_cursor)


@router.delete("/{key_id}", response_model=ApiKeyPublic)
def revoke_key(
    tenant_id: TenantPath, services: ServicesDep, _: TenantAdminDep, key_id: str = KeyPath
) -> ApiKeyPublic:
    return services.keys.revoke(tenant_id, key_id)


@router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def rotate_key(
    tenant_id: TenantPath, services: ServicesDep, _: TenantAdminDep, key_id: str = KeyPath
) -> ApiKeyCreated:
    """Replace a key: same name and scopes, new secret; the old one is revoked."""
    return services.keys.rotate(tenant_id, key_id)
