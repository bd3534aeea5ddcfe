"""What the list-serving routes share: admission (scope and rate quota), routing to a variant's
deployment, the impression of an answered list and the JSON answer."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Response
from fastapi.concurrency import run_in_threadpool
from opentelemetry import trace

from recsys_platform.errors import FieldError, QuotaExceeded
from recsys_platform.gateway.assignment import assign_variant
from recsys_platform.gateway.auth import TenantCaller
from recsys_platform.gateway.deps import ServicesDep
from recsys_platform.gateway.impressions import Impression
from recsys_platform.gateway.ratelimit import retry_after_header
from recsys_platform.gateway.recommendation_schemas import (
    RecommendationFilters,
    RecommendationResponse,
    RecommendedItem,
)
from recsys_platform.gateway.routing import ExperimentRoute, Target, TenantRoutes
from recsys_platform.gateway.serving import RecommendationServices, recommendation_services

RecDep = Annotated[RecommendationServices, Depends(recommendation_services)]


def json_response(response: RecommendationResponse) -> Response:
    """The answer serialised once by pydantic (returning the model would make FastAPI validate
    and encode it again on the hot path; ``response_model`` still documents the shape)."""
    return Response(response.model_dump_json(), media_type="application/json")


def hashed(user_id: str) -> str:
    """What traces carry instead of a user id."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:16]


async def admit(caller: TenantCaller, services: ServicesDep) -> None:
    """The ``recommendations:read`` scope and the tenant's requests-per-second quota (429)."""
    caller.require("recommendations:read")
    quota = caller.quotas.requests_per_second
    wait = await services.limiter.acquire(f"{caller.tenant_id}:requests", rate=quota, burst=quota)
    if wait > 0:
        raise QuotaExceeded(
            f"requests quota of {quota}/s exceeded; retry after {wait:.2f}s",
            [FieldError("requests", f"quota {quota} requests/s")],
            headers={"Retry-After": retry_after_header(wait)},
        )


async def tenant_routes(rec: RecommendationServices, tenant_id: str) -> TenantRoutes:
    """The tenant's deployments and running experiments (cached; loaded off the event loop)."""
    cached = rec.routing.cached(tenant_id)
    if cached is not None:
        return cached
    return await run_in_threadpool(rec.routing.routes, tenant_id)


def model_items(prediction: dict[str, Any], n: int) -> list[RecommendedItem]:
    """The first ``n`` items of a model server's prediction, with 1-based positions."""
    out = []
    for i, item in enumerate(prediction["items"][:n]):
        out.append(
            RecommendedItem(
                item_id=str(item["item_id"]),
                score=float(item.get("score", 0.0)),
                reason=str(item.get("reason", "")),
                position=i + 1,
            )
        )
    return out


@dataclass(frozen=True)
class Routed:
    """Where one request goes: the experiment's variant for the user, else the default."""

    target: Target | None
    deployment: str | None
    experiment: ExperimentRoute | None = None
    variant: str | None = None
    propensity: float = 1.0
    """Probability that the user was assigned this variant (1 without an experiment)."""


def route(routes: TenantRoutes, tenant_id: str, surface: str, user_id: str, span: trace.Span) -> Routed:
    """A running experiment on ``surface`` assigns the user to a variant (deterministic hash of
    tenant, experiment and user); without one the tenant's default deployment answers."""
    experiment = routes.experiments.get(surface)
    if experiment is None:
        target = routes.default
        return Routed(target, target.deployment if target else None)
    assignment = assign_variant(tenant_id, experiment.name, user_id, experiment.weights)
    chosen = experiment.variant(assignment.variant)
    span.set_attribute("recsys.experiment", experiment.name)
    span.set_attribute("recsys.variant", assignment.variant)
    return Routed(chosen.target, chosen.deployment, experiment, assignment.variant, assignment.probability)


def user_instance(
    instance: dict[str, Any],
    session_id: str | None,
    context: dict[str, Any],
    filters: RecommendationFilters | None,
) -> dict[str, Any]:
    """A model-server instance for a user request: ``instance`` plus the session, context and
    filters the caller set (nothing for what it left out)."""
    if session_id is not None:
        instance["session_id"] = session_id
    if context:
        instance["context"] = context
    if filters is not None:
        dumped = filters.model_dump(exclude_none=True)
        if dumped:
            instance["filters"] = dumped
    return instance


def answer_list(
    rec: RecommendationServices,
    routed: Routed,
    items: list[RecommendedItem],
    model_version: str | None,
    fallback: bool,
    *,
    tenant_id: str,
    user_id: str,
    session_id: str | None,
    surface: str,
    bandit: dict[str, Any] | None = None,
) -> Response:
    """The answer of a list-serving route, with its impression queued (and the bandit decision
    that ordered it, if any)."""
    response = record_answer(
        rec,
        routed,
        items,
        model_version,
        fallback,
        tenant_id=tenant_id,
        user_id=user_id,
        session_id=session_id,
        surface=surface,
        bandit=bandit,
    )
    return json_response(response)


def record_answer(
    rec: RecommendationServices,
    routed: Routed,
    items: list[RecommendedItem],
    model_version: str | None,
    fallback: bool,
    *,
    tenant_id: str,
    user_id: str,
    session_id: str | None,
    surface: str,
    bandit: dict[str, Any] | None = None,
) -> RecommendationResponse:
    """The response model of a served list, its impression queued (shared by the single and
    the batch routes)."""
    response = RecommendationResponse(
        recommendation_id=uuid.uuid4().hex,
        items=items,
        variant=routed.variant,
        experiment=routed.experiment.name if routed.experiment else None,
        model_version=model_version,
        fallback=fallback,
    )
    log_impression(
        rec,
        response,
        routed,
        tenant_id=tenant_id,
        user_id=user_id,
        session_id=session_id,
        surface=surface,
        items=items,
        bandit=bandit,
    )
    return response


def log_impression(
    rec: RecommendationServices,
    response: RecommendationResponse,
    routed: Routed,
    *,
    tenant_id: str,
    user_id: str,
    session_id: str | None,
    surface: str,
    items: Sequence[RecommendedItem],
    bandit: dict[str, Any] | None = None,
) -> None:
    """Queue the impression of an answered list (never waits for the log)."""
    experiment = routed.experiment
    rec.impressions.log(
        Impression(
            recommendation_id=response.recommendation_id,
            tenant_id=tenant_id,
            user_id=user_id,
            session_id=session_id,
            surface=surface,
            experiment=response.experiment,
            experiment_id=experiment.id if experiment else None,
            variant=routed.variant,
            deployment=routed.deployment,
            model_version=response.model_version,
            items=[i.item_id for i in items],
            positions=[i.position for i in items],
            propensities=[routed.propensity] * len(items),
            fallback=response.fallback,
            timestamp=datetime.now(UTC),
            attribution_window_seconds=experiment.attribution_window_seconds if experiment else None,
            presentations=[i.presentation for i in items] if bandit is not None else None,
            bandit=bandit,
        )
    )
