"""Body of ``POST /v1/rerank``: the caller's items ordered for a user (the answer is a
``RecommendationResponse``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from recsys_platform.events.schemas import ContextValue, Id
from recsys_platform.gateway.recommendation_schemas import RecommendationFilters, Surface

#: Most items one re-rank request may carry.
MAX_RERANK_ITEMS = 500


class RerankRequest(BaseModel):
    """A user and the candidate items to order for them (e.g. the articles on a page)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "u-1842", "items": ["n-101", "n-102", "n-103"], "n": 2, "surface": "news"}
            ]
        },
    )

    user_id: Id
    session_id: Id | None = None
    items: list[Id] = Field(
        min_length=1,
        max_length=MAX_RERANK_ITEMS,
        description="Candidate item ids, unique. Ids the model does not know are kept, after the known ones.",
    )
    n: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RERANK_ITEMS,
        description="Return at most n items (default: all that pass the filters).",
    )
    context: dict[Annotated[str, StringConstraints(max_length=64)], ContextValue] = Field(
        default_factory=dict, max_length=32
    )
    filters: RecommendationFilters | None = None
    """As for recommendations; ``exclude_seen`` defaults to false here (the caller chose the items)."""
    surface: Surface = "default"

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[str]) -> list[str]:
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item in first:
                raise ValueError(f"duplicate item {item!r} (items[{first[item]}] and items[{i}])")
            first[item] = i
        return items
