"""``POST /v1/recommendations/batch``: lists for many users in one call (e.g. a newsletter run).

Each request is answered as ``POST /v1/recommendations`` would answer it (A/B routing,
fallback, an impression per list); the requests count against the tenant's
requests-per-second quota one by one, admitted together.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from recsys_platform.errors import FieldError, InvalidInput, QuotaExceeded
from recsys_platform.gateway.deps import CallerDep, ServicesDep
from recsys_platform.gateway.ratelimit import retry_after_header
from recsys_platform.gateway.recommendation_schemas import RecommendationRequest, RecommendationResponse
from recsys_platform.gateway.routes.common import RecDep, record_answer, route
from recsys_platform.gateway.routes.common import tenant_routes as _routes
from recsys_platform.gateway.routes.recommendations import _instance, _serve
from recsys_platform.gateway.serving import RecommendationServices
from recsys_platform.web.openapi import problem_responses

router = APIRouter(prefix="/v1", tags=["recommendations"])
MAX_BATCH = 100


class BatchRecommendationRequest(BaseModel):
    """1-100 requests, each as the body of ``POST /v1/recommendations``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"requests": [{"user_id": "u-1", "n": 5}, {"user_id": "u-2", "n": 5}]}]
        },
    )

    requests: list[RecommendationRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRecommendationResponse(BaseModel):
    """The answers in the order of the requests."""

    results: list[RecommendationResponse]


async def _one(
    rec: RecommendationServices, tenant_id: str, body: RecommendationRequest
) -> RecommendationResponse:
    with rec.tracer.start_as_current_span(
        "recsys.gateway.recommend", attributes={"recsys.tenant": tenant_id}
    ) as span:
        routed = route(await _routes(rec, tenant_id), tenant_id, body.surface, body.user_id, span)
        items, model_version, fallback = await _serve(
            rec, tenant_id, routed.target, _instance(body), body.n, body.filters
        )
        response = record_answer(
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
        return response


@router.post(
    "/recommendations/batch",
    response_model=BatchRecommendationResponse,
    responses=problem_responses(429),
)
async def recommend_batch(
    body: BatchRecommendationRequest, caller: CallerDep, services: ServicesDep, rec: RecDep
) -> Response:
    """Top-``n`` lists for up to 100 users; each counts as one request against the quota."""
    caller.require("recommendations:read")
    quota = caller.quotas.requests_per_second
    if len(body.requests) > quota:
        raise InvalidInput(
            f"requests: {len(body.requests)} lists exceed the quota of {quota} requests/s; "
            "send smaller batches",
            [FieldError("requests", f"at most {quota} per batch for this tenant")],
        )
    wait = await services.limiter.acquire(
        f"{caller.tenant_id}:requests", rate=quota, burst=quota, cost=len(body.requests)
    )
    if wait > 0:
        raise QuotaExceeded(
            f"requests quota of {quota}/s exceeded; retry after {wait:.2f}s",
            [FieldError("requests", f"quota {quota} requests/s")],
            headers={"Retry-After": retry_after_header(wait)},
        )
    rec.fallback.warm(caller.tenant_id)
    results = await asyncio.gather(*(_one(rec, caller.tenant_id, r) for r in body.requests))
    answer = BatchRecommendationResponse(results=list(results))
    return Response(answer.model_dump_json(), media_type="application/json")
