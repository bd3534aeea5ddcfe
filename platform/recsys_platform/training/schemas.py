"""API shapes of training runs, schedules and registered model versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recsys_platform.training.params import TrainingParams

RunStatus = Literal["queued", "running", "succeeded", "failed"]


class TrainingRunCreate(BaseModel):
    """Body of ``POST /v1/tenants/{t}/training-runs`` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    params: TrainingParams = Field(default_factory=TrainingParams)


class TrainingRunPublic(BaseModel):
    """One training run: where it is, what it produced, why it failed."""

    id: str
    tenant_id: str
    status: RunStatus
    trigger: str
    stage: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    data_window: dict[str, Any]
    pipeline_run_id: str | None
    model_version: str | None
    promoted: bool
    gate: dict[str, Any]
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TrainingRunList(BaseModel):
    items: list[TrainingRunPublic]


class TrainingScheduleUpdate(BaseModel):
    """Body of ``PUT /v1/tenants/{t}/training-schedule``."""

    model_config = ConfigDict(extra="forbid")

    interval_minutes: int = Field(ge=1, le=60 * 24 * 31)
    """Retrain every this many minutes (the first run is due one interval from now)."""
    enabled: bool = True
    params: TrainingParams = Field(default_factory=TrainingParams)


class TrainingSchedulePublic(BaseModel):
    tenant_id: str
    interval_minutes: int
    enabled: bool
    params: dict[str, Any]
    next_run_at: datetime
    last_run_id: str | None


class ModelVersionPublic(BaseModel):
    """A registered model version with its aliases, metrics and lineage tags."""

    version: str
    aliases: list[str]
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: str | None
    created_at: datetime


class ModelList(BaseModel):
    registered_model: str
    champion: str | None
    challenger: str | None
    items: list[ModelVersionPublic]


class PromoteRequest(BaseModel):
    """Body of ``POST /v1/tenants/{t}/models/champion``."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^[1-9][0-9]{0,8}$", description="Model version number to make champion.")
