"""``/v1/tenants/{tenant_id}/experiments``: A/B experiments, their lifecycle and results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from recsys_platform.control_plane.deps import TenantAdminDep, TenantPath
from recsys_platform.control_plane.pagination import CursorQuery, LimitQuery, page
from recsys_platform.experiments.schemas import (
    ExperimentCreate,
    ExperimentList,
    ExperimentPublic,
    ExperimentResults,
    ExperimentUpdate,
)
from recsys_platform.experiments.service import ExperimentService

router = APIRouter(prefix="/v1/tenants/{tenant_id}/experiments", tags=["experiments"])
NamePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Experiment name.")]


def _service(request: Request) -> ExperimentService:
    """The service the lifespan put on ``app.state.experiments``."""
    service: ExperimentService = request.app.state.experiments
    return service


ExperimentsDep = Annotated[ExperimentService, Depends(_service)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExperimentPublic)
def create_experiment(
    tenant_id: TenantPath, body: ExperimentCreate, experiments: ExperimentsDep, _: TenantAdminDep
) -> ExperimentPublic:
    """Create a draft experiment; the first variant is the control."""
    return experiments.create(tenant_id, body)


@router.get("", response_model=ExperimentList)
def list_experiments(
    tenant_id: TenantPath,
    experiments: ExperimentsDep,
    _: TenantAdminDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> ExperimentList:
    items, next_cursor = page(experiments.list(tenant_id), lambda e: e.name, limit, cursor)
    return ExperimentList(items=items, next_cursor=next_cursor)


@router.get("/{name}", response_model=ExperimentPublic)
def get_experiment(
    tenant_id: TenantPath, name: NamePath, experiments: ExperimentsDep, _: TenantAdminDep
) -> ExperimentPublic:
    return experiments.get(tenant_id, name)


@router.post("/{name}/start", response_model=ExperimentPublic)
def start_experiment(
    tenant_id: TenantPath, name: NamePath, experiments: ExperimentsDep, _: TenantAdminDep
) -> ExperimentPublic:
    """Start routing traffic by the variants' weights (409 if another runs on the surface)."""
    return experiments.start(tenant_id, name)


@router.post("/{name}/stop", response_model=ExperimentPublic)
def stop_experiment(
    tenant_id: TenantPath, name: NamePath, experiments: ExperimentsDep, _: TenantAdminDep
) -> ExperimentPublic:
    return experiments.stop(tenant_id, name)


@router.get("/{name}/results", response_model=ExperimentResults)
def experiment_results(
    tenant_id: TenantPath, name: NamePath, experiments: ExperimentsDep, _: TenantAdminDep
) -> ExperimentResults:
    """Impressions, clicks, CTR (Wilson 95% CI) and p-value vs the control, per variant."""
    return experiments.results(tenant_id, name)


@router.patch("/{name}", response_model=ExperimentPublic)
def update_experiment(
    tenant_id: TenantPath,
    name: NamePath,
    body: ExperimentUpdate,
    experiments: ExperimentsDep,
    _: TenantAdminDep,
) -> ExperimentPublic:
    """Change only the fields given: variants and surface while a draft, the attribution window
    until the experiment stops."""
    return experiments.update(tenant_id, name, body)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_experiment(
    tenant_id: TenantPath, name: NamePath, experiments: ExperimentsDep, _: TenantAdminDep
) -> Response:
    """Delete a draft or stopped experiment with its counts (stop a running one first)."""
    experiments.delete(tenant_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
