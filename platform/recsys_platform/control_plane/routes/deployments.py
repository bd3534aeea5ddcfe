"""``/v1/tenants/{tenant_id}/deployments``: serve a tenant's model behind an endpoint."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from recsys_platform.control_plane.deps import TenantAdminDep, TenantPath
from recsys_platform.control_plane.pagination import CursorQuery, LimitQuery, page
from recsys_platform.deploy.ports import DEPLOYMENT_NAME_PATTERN
from recsys_platform.deploy.schemas import (
    DeploymentCreate,
    DeploymentList,
    DeploymentPatch,
    DeploymentPublic,
    DeploymentUpdate,
)
from recsys_platform.deploy.service import DeploymentService
from recsys_platform.web.openapi_errors import problem_response

router = APIRouter(prefix="/v1/tenants/{tenant_id}/deployments", tags=["deployments"])
#: A model server that does not start (create/update).
FAILED_START: dict[int | str, dict[str, Any]] = {502: problem_response(502)}
NamePath = Annotated[str, Path(pattern=DEPLOYMENT_NAME_PATTERN, description="Deployment name.")]


def _deployments(request: Request) -> DeploymentService:
    service: DeploymentService = request.app.state.deployments
    return service


DeploymentsDep = Annotated[DeploymentService, Depends(_deployments)]


@router.post("", response_model=DeploymentPublic, status_code=status.HTTP_201_CREATED, responses=FAILED_START)
async def create_deployment(
    tenant_id: TenantPath, body: DeploymentCreate, deployments: DeploymentsDep, caller: TenantAdminDep
) -> DeploymentPublic:
    """Serve a version or alias of the tenant's registered model (default: the ``champion``
    alias). A raw ``model.uri`` is for the platform admin only (403 for a tenant key). Local mode
    answers once the model server is ready; KServe mode answers ``pending`` and the status follows."""
    admin = caller.kind == "platform_admin"
    return await run_in_threadpool(partial(deployments.create, tenant_id, body, platform_admin=admin))


@router.get("", response_model=DeploymentList)
async def list_deployments(
    tenant_id: TenantPath,
    deployments: DeploymentsDep,
    _: TenantAdminDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> DeploymentList:
    listed = await run_in_threadpool(deployments.list, tenant_id)
    items, next_cursor = page(listed.items, lambda d: d.name, limit, cursor)
    return DeploymentList(items=items, next_cursor=next_cursor)


@router.get("/{name}", response_model=DeploymentPublic)
async def get_deployment(
    tenant_id: TenantPath, name: NamePath, deployments: DeploymentsDep, _: TenantAdminDep
) -> DeploymentPublic:
    return await run_in_threadpool(deployments.get, tenant_id, name)


@router.put("/{name}", response_model=DeploymentPublic, responses=FAILED_START)
async def update_deployment(
    tenant_id: TenantPath,
    name: NamePath,
    body: DeploymentUpdate,
    deployments: DeploymentsDep,
    caller: TenantAdminDep,
) -> DeploymentPublic:
    """Replace the deployment's settings: a field left out takes its default (the ``champion``
    alias, one replica, no resources). To change one field, ``PATCH``. A raw ``model.uri`` is
    for the platform admin only."""
    admin = caller.kind == "platform_admin"
    return await run_in_threadpool(partial(deployments.update, tenant_id, name, body, platform_admin=admin))


@router.patch("/{name}", response_model=DeploymentPublic, responses=FAILED_START)
async def patch_deployment(
    tenant_id: TenantPath,
    name: NamePath,
    body: DeploymentPatch,
    deployments: DeploymentsDep,
    caller: TenantAdminDep,
) -> DeploymentPublic:
    """Change only the fields given (JSON merge patch): roll out another model version, scale,
    resize or set a canary share; what is left out stays as it is."""
    admin = caller.kind == "platform_admin"
    return await run_in_threadpool(partial(deployments.patch, tenant_id, name, body, platform_admin=admin))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_deployment(
    tenant_id: TenantPath, name: NamePath, deployments: DeploymentsDep, _: TenantAdminDep
) -> Response:
    await run_in_threadpool(deployments.delete, tenant_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
