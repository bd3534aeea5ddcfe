"""Training runs, schedules and registered models of a tenant (admin token or tenant admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from recsys_platform.control_plane.deps import TenantAdminDep, TenantPath
from recsys_platform.errors import FieldError, NotFound
from recsys_platform.registry.ports import CHALLENGER, CHAMPION, ModelVersionInfo
from recsys_platform.training.schemas import (
    ModelList,
    ModelVersionPublic,
    PromoteRequest,
    TrainingRunCreate,
    TrainingRunList,
    TrainingRunPublic,
    TrainingSchedulePublic,
    TrainingScheduleUpdate,
)
from recsys_platform.training.wiring import TrainingServices

router = APIRouter(prefix="/v1/tenants/{tenant_id}", tags=["training"])


def _training(request: Request, _: TenantAdminDep) -> TrainingServices:
    # the caller is checked first: whether training runs here is not for strangers to learn
    services: TrainingServices | None = getattr(request.app.state, "training", None)
    if services is None:
        # switched off by configuration (not a passing outage): nothing here to retry against
        raise NotFound(
            "training is not enabled on this control plane (RECSYS_CONTROL_PLANE_TRAINING__ENABLED)",
            [FieldError("training", "not enabled")],
        )
    return services


TrainingDep = Annotated[TrainingServices, Depends(_training)]


@router.post("/training-runs", status_code=status.HTTP_202_ACCEPTED, response_model=TrainingRunPublic)
def create_run(
    tenant_id: TenantPath, training: TrainingDep, _: TenantAdminDep, body: TrainingRunCreate | None = None
) -> TrainingRunPublic:
    """Queue a training run (load -> train -> evaluate -> register + gate); poll it by id."""
    return training.runs.create_run(tenant_id, (body or TrainingRunCreate()).params)


@router.get("/training-runs", response_model=TrainingRunList)
def list_runs(
    tenant_id: TenantPath,
    training: TrainingDep,
    _: TenantAdminDep,
    limit: int = Query(default=50, ge=1, le=500),
) -> TrainingRunList:
    """Run history, newest first, with metrics, model version and errors."""
    return TrainingRunList(items=training.runs.list_runs(tenant_id, limit))


@router.get("/training-runs/{run_id}", response_model=TrainingRunPublic)
def get_run(
    tenant_id: TenantPath, run_id: str, training: TrainingDep, _: TenantAdminDep
) -> TrainingRunPublic:
    return training.runs.get_run(tenant_id, run_id)


@router.put("/training-schedule", response_model=TrainingSchedulePublic)
def put_schedule(
    tenant_id: TenantPath, body: TrainingScheduleUpdate, training: TrainingDep, _: TenantAdminDep
) -> TrainingSchedulePublic:
    """Retrain every ``interval_minutes`` (replaces an existing schedule)."""
    return training.schedules.put(tenant_id, body)


@router.get("/training-schedule", response_model=TrainingSchedulePublic)
def get_schedule(tenant_id: TenantPath, training: TrainingDep, _: TenantAdminDep) -> TrainingSchedulePublic:
    return training.schedules.get(tenant_id)


@router.delete("/training-schedule", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(tenant_id: TenantPath, training: TrainingDep, _: TenantAdminDep) -> Response:
    training.schedules.delete(tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _version_public(info: ModelVersionInfo) -> ModelVersionPublic:
    return ModelVersionPublic(
        version=info.version,
        aliases=list(info.aliases),
        metrics=dict(info.metrics),
        tags=dict(info.tags),
        run_id=info.run_id,
        created_at=datetime.fromtimestamp(info.created_at_ms / 1000, UTC),
    )


@router.get("/models", response_model=ModelList)
def list_models(tenant_id: TenantPath, training: TrainingDep, _: TenantAdminDep) -> ModelList:
    """Registered versions (newest first) with aliases (champion, challenger) and metrics."""
    registry = training.registry
    _check_tenant(training, tenant_id)
    try:
        versions = registry.list_versions(tenant_id)
    except NotFound:
        versions = []
    items = [_version_public(v) for v in versions]
    return ModelList(
        registered_model=registry.model_name(tenant_id),
        champion=next((v.version for v in versions if CHAMPION in v.aliases), None),
        challenger=next((v.version for v in versions if CHALLENGER in v.aliases), None),
        items=items,
    )


@router.post("/models/champion", response_model=ModelVersionPublic)
def promote(
    tenant_id: TenantPath, body: PromoteRequest, training: TrainingDep, _: TenantAdminDep
) -> ModelVersionPublic:
    """Make a version the champion now (no gate); the old champion is kept for rollback."""
    _check_tenant(training, tenant_id)
    return _version_public(training.registry.promote(tenant_id, body.version))


@router.post("/models/champion/rollback", response_model=ModelVersionPublic)
def rollback(tenant_id: TenantPath, training: TrainingDep, _: TenantAdminDep) -> ModelVersionPublic:
    """Move champion back to the previous champion version."""
    _check_tenant(training, tenant_id)
    return _version_public(training.registry.rollback(tenant_id))


def _check_tenant(training: TrainingServices, tenant_id: str) -> None:
    from recsys_platform.tenancy.lookup import active_tenant

    with training.schedules.sessions() as s:
        active_tenant(s, tenant_id)
