"""``POST /v1/recommendations`` and ``GET /v1/items/{item_id}/similar``.

Key -> tenant; experiment assignment on the request's surface; the variant's deployment
answers over the pooled client; a timeout, connection error or 5xx serves the tenant's
cached popularity list (``fallback: true``), a 4xx of the model server is passed on as a
4xx naming the field. Each list is logged as an impression.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from opentelemetry import trace

from recsys_platform.gateway.deps import CallerDep, ServicesDep
from recsys_platform.gateway.fallback import FallbackItem
from recsys_platform.gateway.model_client import ModelUnavailable
from recsys_platform.gateway.recommendation_schemas import (
    RecommendationFilters,
    RecommendationRequest,
    RecommendationResponse,
    RecommendedItem,
)
from recsys_platform.gateway.routes.common import RecDep, answer_list, hashed, route, user_instance
from recsys_platform.gateway.routes.common import admit as _admit
from recsys_platform.gateway.routes.common import json_response as _json
from recsys_platform.gateway.routes.common import model_items as _model_items
from recsys_platform.gateway.routes.common import tenant_routes as _routes
from recsys_platform.gateway.routing import Target
from recsys_platform.gateway.serving import RecommendationServices
from recsys_platform.gateway.slate import after_ranking, candidate_count
from recsys_platform.web.openapi import problem_responses

router = APIRouter(prefix="/v1", tags=["recommendations"])


def _instance(body: RecommendationRequest) -> dict[str, Any]:
    instance: dict[str, Any] = {"user_id": body.user_id, "n": body.n}
    return user_instance(instance, body.session_id, body.context, body.filters)


def _fallback_items(items: list[FallbackItem]) -> list[RecommendedItem]:
    return [
        RecommendedItem(item_id=x.item_id, score=x.score, reason=x.reason, position=i + 1)
        for i, x in enumerate(items)
    ]


async def _serve(
    rec: RecommendationServices,
    tenant_id: str,
    target: Target | None,
    instance: dict[str, Any],
    n: int,
    filters: RecommendationFilters | None,
    exclude: tuple[str, ...] = (),
) -> tuple[list[RecommendedItem], str | None, bool]:
    """(items, model_version, fallback) from the target, or the fallback list."""
    span = trace.get_current_span()
    reason = "no_deployment"
    if target is not None:
        try:
            prediction = await rec.models.predict(target, instance)
            items = _model_items(prediction, n)
            rec.metrics.recommendations.labels("model", "").inc()
            version = prediction.get("model_version")
            return items, str(version) if version is not None else target.model_version, False
        except ModelUnavailable as exc:
            reason = "model_unavailable"
            span.add_event("fallback", {"reason": str(exc)[:200]})
    rec.metrics.recommendations.labels("fallback", reason).inc()
    popular = await rec.fallback.get(tenant_id)
    f = filters or RecommendationFilters()
    chosen = popular.select(
        n,
        exclude_items=set(f.exclude_items or ()) | set(exclude),
        include_categories=f.include_categories,
        exclude_categories=f.exclude_categories or (),
    )
    return _fallback_items(chosen), None, True


@router.post("/recommendations", response_model=RecommendationResponse, responses=problem_responses(429))
async def recommend(
    body: RecommendationRequest, caller: CallerDep, services: ServicesDep, rec: RecDep
) -> Response:
    """Top-``n`` items for a user (unknown users get a cold-start list, never an error)."""
    await _admit(caller, services)
    tenant_id = caller.tenant_id
    with rec.tracer.start_as_current_span(
        "recsys.gateway.recommend",
        attributes={"recsys.tenant": tenant_id, "recsys.user_hash": hashed(body.user_id), "recsys.n": body.n},
    ) as span:
        rec.fallback.warm(tenant_id)
        routed = route(await _routes(rec, tenant_id), tenant_id, body.surface, body.user_id, span)
        want = candidate_count(rec, tenant_id, body)
        instance = _instance(body)
        instance["n"] = want
        items, model_version, fallback = await _serve(
            rec, tenant_id, routed.target, instance, want, body.filters
        )
        span.set_attribute("recsys.fallback", fallback)
        items, decision = after_ranking(rec, tenant_id, body, items)
        return answer_list(
            rec,
            routed,
            items,
            model_version,
            fallback,
            tenant_id=tenant_id,
            user_id=body.user_id,
            session_id=body.session_id,
            surface=body.surface,
            bandit=decision,
        )


ItemPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\s]+$")]


@router.get(
    "/items/{item_id:path}/similar",
    response_model=RecommendationResponse,
    responses=problem_responses(429, s404="The model does not know the item."),
)
async def similar_items(
    item_id: ItemPath,
    caller: CallerDep,
    services: ServicesDep,
    rec: RecDep,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Items like ``item_id`` from the tenant's default deployment (404 for an unknown item)."""
    await _admit(caller, services)
    with rec.tracer.start_as_current_span(
        "recsys.gateway.similar_items", attributes={"recsys.tenant": caller.tenant_id, "recsys.n": n}
    ):
        rec.fallback.warm(caller.tenant_id)
        routes = await _routes(rec, caller.tenant_id)
        target = routes.default
        items, model_version, fallback = await _serve(
            rec, caller.tenant_id, target, {"similar_to": item_id, "n": n}, n, None, exclude=(item_id,)
        )
        return _json(
            RecommendationResponse(
                recommendation_id=uuid.uuid4().hex,
                items=items,
                variant=None,
                experiment=None,
                model_version=model_version,
                fallback=fallback,
            )
        )
