"""``/v1/tenants/{tenant_id}/guardrails``: ordered guardrail rules per surface, checked on write
(a set no slate can satisfy is refused with the reason)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel

from recsys_platform.control_plane.deps import TenantAdminDep, TenantPath
from recsys_platform.control_plane.routes.policies import SurfacePath
from recsys_platform.guardrails.schemas import GuardrailSet, GuardrailSetPublic
from recsys_platform.guardrails.service import GuardrailService

router = APIRouter(prefix="/v1/tenants/{tenant_id}/guardrails", tags=["guardrails"])


class GuardrailSetList(BaseModel):
    items: list[GuardrailSetPublic]


def _service(request: Request) -> GuardrailService:
    service: GuardrailService = request.app.state.guardrails
    return service


GuardrailsDep = Annotated[GuardrailService, Depends(_service)]


@router.get("", response_model=GuardrailSetList)
def list_sets(tenant_id: TenantPath, guardrails: GuardrailsDep, _: TenantAdminDep) -> GuardrailSetList:
    return GuardrailSetList(items=guardrails.list(tenant_id))


@router.put("/{surface}", response_model=GuardrailSetPublic)
def put_set(
    tenant_id: TenantPath,
    surface: SurfacePath,
    body: GuardrailSet,
    guardrails: GuardrailsDep,
    _: TenantAdminDep,
) -> GuardrailSetPublic:
    """Replace the surface's rules (applied in order to model and fallback lists alike)."""
    return guardrails.put(tenant_id, surface, body)


@router.get("/{surface}", response_model=GuardrailSetPublic)
def get_set(
    tenant_id: TenantPath, surface: SurfacePath, guardrails: GuardrailsDep, _: TenantAdminDep
) -> GuardrailSetPublic:
    return guardrails.get(tenant_id, surface)


@router.delete("/{surface}", status_code=status.HTTP_204_NO_CONTENT)
def delete_set(
    tenant_id: TenantPath, surface: SurfacePath, guardrails: GuardrailsDep, _: TenantAdminDep
) -> Response:
    guardrails.delete(tenant_id, surface)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
