"""Request and response bodies of the experiments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
ExperimentStatus = Literal["draft", "running", "stopped"]


class VariantSpec(BaseModel):
    """One arm: a name, the deployment that serves it and its share of traffic."""

    model_config = ConfigDict(extra="forbid")

    name: Slug
    deployment: Slug
    weight: float = Field(gt=0, le=1_000_000, description="Relative traffic share (normalised).")


class ExperimentCreate(BaseModel):
    """A new experiment, created as ``draft``. The first variant is the control."""

    model_config = ConfigDict(extra="forbid")

    name: Slug
    surface: Slug = "default"
    variants: list[VariantSpec] = Field(min_length=2, max_length=10)
    attribution_window_seconds: int = Field(default=1800, ge=1, le=7 * 24 * 3600)

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        names = [v.name for v in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        return variants


class ExperimentUpdate(BaseModel):
    """``PATCH``: change only the fields given. Variants and surface change only while the
    experiment is a ``draft`` (a running one would reassign users mid-test); the attribution
    window changes until it stops."""

    model_config = ConfigDict(extra="forbid")

    surface: Slug | None = None
    variants: list[VariantSpec] | None = Field(default=None, min_length=2, max_length=10)
    attribution_window_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantSpec] | None) -> list[VariantSpec] | None:
        return None if variants is None else ExperimentCreate._unique_names(variants)


class ExperimentPublic(BaseModel):
    """An experiment as the API shows it."""

    id: str
    tenant_id: str
    name: str
    surface: str
    status: ExperimentStatus
    variants: list[VariantSpec]
    attribution_window_seconds: int
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class ExperimentList(BaseModel):
    items: list[ExperimentPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class VariantResult(BaseModel):
    """Impressions, attributed clicks and CTR of one variant, compared with the control."""

    variant: str
    deployment: str
    weight: float
    impressions: int
    clicks: int
    ctr: float
    ctr_ci_low: float = Field(description="Wilson 95% interval, lower bound.")
    ctr_ci_high: float = Field(description="Wilson 95% interval, upper bound.")
    is_control: bool
    lift: float | None = Field(description="Relative CTR change vs the control (None for it).")
    p_value: float | None = Field(description="Two-proportion z-test vs the control.")
    significant: bool = Field(description="p_value < 0.05.")


class ExperimentResults(BaseModel):
    experiment: str
    status: ExperimentStatus
    control: str
    confidence_level: float = 0.95
    alpha: float = 0.05
    variants: list[VariantResult]
