"""Request dependencies: services from ``app.state`` and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from recsys_platform.catalog.service import CatalogService
from recsys_platform.errors import FieldError, Forbidden
from recsys_platform.observability.logging import set_tenant
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.tenancy.keys import ApiKeyService
from recsys_platform.tenancy.schemas import TENANT_ID_PATTERN, Principal, Scope
from recsys_platform.tenancy.service import TenantService
from recsys_platform.web.credentials import bearer_token


@dataclass
class ControlPlaneServices:
    """Everything a route needs, built once in the lifespan and kept on ``app.state``."""

    settings: ControlPlaneSettings
    tenants: TenantService
    keys: ApiKeyService
    catalog: CatalogService


def _services(request: Request) -> ControlPlaneServices:
    services: ControlPlaneServices = request.app.state.services
    return services


ServicesDep = Annotated[ControlPlaneServices, Depends(_services)]


def get_principal(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    token = bearer_token(authorization, x_api_key)
    admin = services.settings.admin_token.get_secret_value()
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(kind="platform_admin")
    principal = services.keys.authenticate(token)
    set_tenant(principal.tenant_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_platform_admin(principal: PrincipalDep) -> Principal:
    if principal.kind != "platform_admin":
        raise Forbidden(
            "this operation needs the platform admin token",
            [FieldError("authorization", "platform admin token required")],
        )
    return principal


PlatformAdminDep = Annotated[Principal, Depends(require_platform_admin)]
TenantPath = Annotated[str, Path(pattern=TENANT_ID_PATTERN, description="Tenant id (slug).")]


def tenant_access(scope: Scope) -> Callable[..., Principal]:
    """Dependency: the platform admin, or a key of the tenant in the path with ``scope``."""

    def check(tenant_id: TenantPath, principal: PrincipalDep) -> Principal:
        set_tenant(tenant_id)
        if principal.kind == "platform_admin":
            return principal
        if principal.tenant_id != tenant_id:
            raise Forbidden(
                "this API key belongs to another tenant", [FieldError("tenant_id", "not the key's tenant")]
            )
        if scope not in principal.scopes:
            raise Forbidden(
                f"this API key lacks the '{scope}' scope",
                [FieldError("authorization", f"scope '{scope}' required")],
            )
        return principal

    return check


TenantAdminDep = Annotated[Principal, Depends(tenant_access("admin"))]
