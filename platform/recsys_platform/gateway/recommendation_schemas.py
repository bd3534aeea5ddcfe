"""Bodies of ``POST /v1/recommendations`` and ``GET /v1/items/{item_id}/similar``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recsys_platform.events.schemas import ContextValue, Id

Category = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Surface = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class RecommendationFilters(BaseModel):
    """Business filters applied by the model server (and by the fallback list)."""

    model_config = ConfigDict(extra="forbid")

    include_categories: list[Category] | None = Field(default=None, max_length=100)
    exclude_categories: list[Category] | None = Field(default=None, max_length=100)
    exclude_items: list[Id] | None = Field(default=None, max_length=1000)
    exclude_seen: bool | None = None
    """Leave out every item the user interacted with (the default of the deployment, normally
    true); ``false`` lets users meet items again (re-reads, re-purchases)."""


class RecommendationRequest(BaseModel):
    """A list for one user."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u-1842",
                    "session_id": "s-77",
                    "n": 5,
                    "context": {"device": "mobile"},
                    "filters": {"exclude_categories": ["adult"], "exclude_items": ["sku-9"]},
                    "surface": "home",
                }
            ]
        },
    )

    user_id: Id
    session_id: Id | None = None
    n: int = Field(default=10, ge=1, le=100)
    context: dict[Annotated[str, StringConstraints(max_length=64)], ContextValue] = Field(
        default_factory=dict, max_length=32
    )
    filters: RecommendationFilters | None = None
    surface: Surface = "default"


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    reason: str
    position: int = Field(description="1-based rank in the list.")
    presentation: str | None = Field(
        default=None,
        description="Presentation variant to show (thumbnail, title) when the catalog declares them.",
    )


class RecommendationResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recommendation_id": "3b1f0e5c2a7d4e8f9a6b5c4d3e2f1a0b",
                    "items": [
                        {"item_id": "sku-123", "score": 0.91, "reason": "similar to sku-9", "position": 1},
                        {"item_id": "sku-311", "score": 0.74, "reason": "trending", "position": 2},
                    ],
                    "variant": "treatment",
                    "experiment": "ranker-test",
                    "model_version": "7",
                    "fallback": False,
                }
            ]
        }
    )

    recommendation_id: str = Field(description="Send it back with click events for attribution.")
    items: list[RecommendedItem]
    variant: str | None = Field(description="A/B variant that served the list (None: no experiment).")
    experiment: str | None
    model_version: str | None
    fallback: bool = Field(description="True when the cached popularity list answered instead.")
