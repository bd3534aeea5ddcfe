"""``POST /v1/rerank``: the caller's items ordered for a user (AWS Personalize's
GetPersonalizedRanking).

Same admission, A/B routing, impressions and errors as ``POST /v1/recommendations``; the
model server orders the items (``{"user_id": ..., "items": [...]}``). On a timeout,
connection error or 5xx, or without a ready deployment, the answer keeps the caller's
order (``fallback: true``) with the filters the gateway can apply itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from opentelemetry import trace

from recsys_platform.gateway.deps import CallerDep, ServicesDep
from recsys_platform.gateway.fallback import FallbackList
from recsys_platform.gateway.model_client import ModelUnavailable
from recsys_platform.gateway.recommendation_schemas import RecommendationResponse, RecommendedItem
from recsys_platform.gateway.rerank_schemas import RerankRequest
from recsys_platform.gateway.routes.common import (
    RecDep,
    admit,
    answer_list,
    hashed,
    model_items,
    route,
    tenant_routes,
    user_instance,
)
from recsys_platform.gateway.routing import Target
from recsys_platform.gateway.serving import RecommendationServices
from recsys_platform.web.openapi import problem_responses

router = APIRouter(prefix="/v1", tags=["recommendations"])

#: Reason of an item in a fallback answer (the caller's order kept).
GIVEN_ORDER_REASON = "in the given order"

DESCRIPTION = """\
Orders the caller's candidate items (1-500 unique ids, e.g. the articles on a page) for the user,
with the filters, A/B routing and impression logging of `POST /v1/recommendations`.

* Items the model does not know are kept: they come after the known ones, in the given order.
* `filters` remove items (excluded items and categories; unavailable items are always removed).
* Items the user already interacted with are kept unless `filters.exclude_seen` is true.
* `n` cuts the answer (default: every item that passes the filters).
* If the model server does not answer in time (timeout, connection error, 5xx) or the tenant
  has no ready deployment, the answer keeps the given order with `fallback: true`.
"""


def _instance(body: RerankRequest) -> dict[str, Any]:
    instance: dict[str, Any] = {"user_id": body.user_id, "items": body.items}
    if body.n is not None:
        instance["n"] = min(body.n, len(body.items))
    return user_instance(instance, body.session_id, body.context, body.filters)


def _given_order(body: RerankRequest, known: FallbackList) -> list[RecommendedItem]:
    """The caller's items in their order, without excluded items and, where the cached catalog
    knows an item's categories, without those the category filters remove."""
    f = body.filters
    excluded = set(f.exclude_items or ()) if f else set()
    include = set(f.include_categories) if f and f.include_categories else None
    exclude = set(f.exclude_categories or ()) if f else set()
    kept = []
    for item in body.items:
        cats = known.categories.get(item)
        if item in excluded or (cats is not None and exclude & set(cats)):
            continue
        if include is not None and cats is not None and not include & set(cats):
            continue
        kept.append(item)
    kept = kept[: body.n] if body.n is not None else kept
    return [
        RecommendedItem(
            item_id=item, score=round(1.0 - i / len(kept), 6), reason=GIVEN_ORDER_REASON, position=i + 1
        )
        for i, item in enumerate(kept)
    ]


async def _serve(
    rec: RecommendationServices, tenant_id: str, target: Target | None, body: RerankRequest
) -> tuple[list[RecommendedItem], str | None, bool]:
    """(items, model_version, fallback) from the target, or the given order."""
    reason = "no_deployment"
    if target is not None:
        try:
            prediction = await rec.models.predict(target, _instance(body))
            rec.metrics.recommendations.labels("model", "").inc()
            version = prediction.get("model_version")
            items = model_items(prediction, body.n or len(body.items))
            return items, str(version) if version is not None else target.model_version, False
        except ModelUnavailable as exc:
            reason = "model_unavailable"
            trace.get_current_span().add_event("fallback", {"reason": str(exc)[:200]})
    rec.metrics.recommendations.labels("fallback", reason).inc()
    return _given_order(body, await rec.fallback.get(tenant_id)), None, True


@router.post(
    "/rerank",
    response_model=RecommendationResponse,
    summary="Re-rank the given items for a user",
    description=DESCRIPTION,
    responses=problem_responses(429),
)
async def rerank(body: RerankRequest, caller: CallerDep, services: ServicesDep, rec: RecDep) -> Response:
    """The caller's items ordered for the user (never an error for an unknown user or item)."""
    await admit(caller, services)
    tenant_id = caller.tenant_id
    with rec.tracer.start_as_current_span(
        "recsys.gateway.rerank",
        attributes={
            "recsys.tenant": tenant_id,
            "recsys.user_hash": hashed(body.user_id),
            "recsys.items": len(body.items),
        },
    ) as span:
        rec.fallback.warm(tenant_id)
        routed = route(await tenant_routes(rec, tenant_id), tenant_id, body.surface, body.user_id, span)
        items, model_version, fallback = await _serve(rec, tenant_id, routed.target, body)
        span.set_attribute("recsys.fallback", fallback)
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
        )
