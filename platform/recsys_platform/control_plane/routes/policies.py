"""``/v1/tenants/{tenant_id}/policies``: contextual-bandit policies per surface (mode, exploration,
reward definition) and their learning state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from recsys_platform.bandit.config import SURFACE_PATTERN, PolicyConfig, PolicyList, PolicyPublic
from recsys_platform.bandit.ope import EvaluationRequest, EvaluationResult
from recsys_platform.bandit.service import PolicyEvaluator, PolicyService
from recsys_platform.control_plane.deps import TenantAdminDep, TenantPath

router = APIRouter(prefix="/v1/tenants/{tenant_id}/policies", tags=["policies"])
SurfacePath = Annotated[str, Path(pattern=SURFACE_PATTERN, description="Surface of the gateway requests.")]


def _service(request: Request) -> PolicyService:
    service: PolicyService = request.app.state.policies
    return service


PoliciesDep = Annotated[PolicyService, Depends(_service)]


@router.get("", response_model=PolicyList)
def list_policies(tenant_id: TenantPath, policies: PoliciesDep, _: TenantAdminDep) -> PolicyList:
    return PolicyList(items=policies.list(tenant_id))


@router.put("/{surface}", response_model=PolicyPublic)
def put_policy(
    tenant_id: TenantPath, surface: SurfacePath, body: PolicyConfig, policies: PoliciesDep, _: TenantAdminDep
) -> PolicyPublic:
    """Set the surface's policy: ``mode`` off/apprentice/online, ``exploration`` (epsilon), reward
    definition. Gateways pick it up within their refresh interval (5 s by default)."""
    return policies.put(tenant_id, surface, body)


@router.get("/{surface}", response_model=PolicyPublic)
def get_policy(
    tenant_id: TenantPath, surface: SurfacePath, policies: PoliciesDep, _: TenantAdminDep
) -> PolicyPublic:
    """Settings, the serving checkpoint (MLflow version), decisions learned, last reward."""
    return policies.get(tenant_id, surface)


def _evaluator(request: Request) -> PolicyEvaluator:
    evaluator: PolicyEvaluator = request.app.state.policy_evaluator
    return evaluator


EvaluatorDep = Annotated[PolicyEvaluator, Depends(_evaluator)]


@router.post("/{surface}/evaluate", response_model=EvaluationResult)
def evaluate_policies(
    tenant_id: TenantPath,
    surface: SurfacePath,
    body: EvaluationRequest,
    evaluator: EvaluatorDep,
    _: TenantAdminDep,
) -> EvaluationResult:
    """Off-policy estimates (IPS, SNIPS, doubly robust; 95% intervals, effective sample size) of
    candidate policies -- a registered checkpoint, the ranker alone, uniform random, a checkpoint
    at another exploration rate -- from the surface's logged decisions and rewards."""
    return evaluator.evaluate(tenant_id, surface, body)


@router.delete("/{surface}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(
    tenant_id: TenantPath, surface: SurfacePath, policies: PoliciesDep, _: TenantAdminDep
) -> Response:
    policies.delete(tenant_id, surface)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
