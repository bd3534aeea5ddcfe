"""The one call of the bandit stage on the recommendation path (``bandit/stage.py``)."""

from __future__ import annotations

from typing import Any

from recsys_platform.bandit.stage import Ranked
from recsys_platform.gateway.recommendation_schemas import RecommendationRequest, RecommendedItem
from recsys_platform.gateway.serving import RecommendationServices


def bandit_stage(
    rec: RecommendationServices, tenant_id: str, body: RecommendationRequest, items: list[RecommendedItem]
) -> tuple[list[RecommendedItem], dict[str, Any] | None]:
    """Items reordered with presentation variants by the tenant's policy on the surface, and the
    decision to log; the items unchanged and None when the policy is off (one dict lookup)."""
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
