"""The stages after ranking on the recommendation path, called from one place: the tenant's
bandit policy on the surface (``bandit/stage.py``), then its guardrails (``guardrails/stage.py``).
Both apply to model and fallback lists alike; a surface with neither costs two dict lookups."""

from __future__ import annotations

from typing import Any

from recsys_platform.bandit.stage import Ranked
from recsys_platform.gateway.recommendation_schemas import RecommendationRequest, RecommendedItem
from recsys_platform.gateway.serving import RecommendationServices


def candidate_count(rec: RecommendationServices, tenant_id: str, body: RecommendationRequest) -> int:
    """How many items to ask the ranker for (more than ``n`` when guardrails may pull some in)."""
    stage = rec.guardrails
    return body.n if stage is None else stage.candidates(tenant_id, body.surface, body.n)


def after_ranking(
    rec: RecommendationServices, tenant_id: str, body: RecommendationRequest, items: list[RecommendedItem]
) -> tuple[list[RecommendedItem], dict[str, Any] | None]:
    """The slate to serve (``n`` items) and the bandit decision to log (None when off)."""
    items, decision = _bandit(rec, tenant_id, body, items)
    stage = rec.guardrails
    if stage is not None:
        slate = stage.apply(tenant_id, body.surface, [i.item_id for i in items], body.n)
        if slate is not None and slate.items != [i.item_id for i in items[: body.n]]:
            by_id = {i.item_id: i for i in items}
            items = [
                by_id[item_id].model_copy(update={"position": pos + 1})
                for pos, item_id in enumerate(slate.items)
            ]
    return items[: body.n], decision


def _bandit(
    rec: RecommendationServices, tenant_id: str, body: RecommendationRequest, items: list[RecommendedItem]
) -> tuple[list[RecommendedItem], dict[str, Any] | None]:
    stage = rec.bandit
    if stage is None or not stage.enabled(tenant_id, body.surface):
        return items, None
    decision = stage.decide(
        tenant_id,
        body.surface,
        body.user_id,
        body.context,
        [Ranked(i.item_id, i.score, i.reason) for i in items],
    )
    if decision is None:
        return items, None
    out = [
        items[i].model_copy(update={"position": pos + 1, "presentation": presentation})
        for pos, (i, presentation) in enumerate(zip(decision.order, decision.presentations, strict=True))
    ]
    return out, decision.payload
