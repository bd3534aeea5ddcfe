"""ORM rows. Never returned from the API: ``tenancy.schemas`` maps them to ``XPublic``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    use_case: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    quotas: Mapped[dict[str, Any]] = mapped_column(JSON)
    retention: Mapped[dict[str, Any]] = mapped_column(JSON)
    catalog_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant")
    resources: Mapped[list[ProvisionedResource]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    replaced_by: Mapped[str | None] = mapped_column(String(32), default=None)

    tenant: Mapped[Tenant] = relationship(back_populates="api_keys")


class ProvisionedResource(Base):
    """Something created for a tenant outside the database (topic, Feast project, ...)."""

    __tablename__ = "provisioned_resources"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provisioner: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="resources")


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = (Index("ix_catalog_items_tenant_updated", "tenant_id", "updated_at"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingRun(Base):
    """One training pipeline run of a tenant (queued -> running -> succeeded | failed)."""

    __tablename__ = "training_runs"
    __table_args__ = (Index("ix_training_runs_tenant_requested", "tenant_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    trigger: Mapped[str] = mapped_column(String(20), default="api")
    stage: Mapped[str | None] = mapped_column(String(60), default=None)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_window: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(200), default=None)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    model_version: Mapped[str | None] = mapped_column(String(40), default=None)
    promoted: Mapped[bool] = mapped_column(Boolean, default=False)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class TrainingSchedule(Base):
    """A tenant's periodic retraining: every ``interval_minutes`` while enabled."""

    __tablename__ = "training_schedules"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    interval_minutes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_id: Mapped[str | None] = mapped_column(String(40), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Deployment(Base):
    """A served model of a tenant: a registered model version behind an endpoint."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    model_alias: Mapped[str | None] = mapped_column(String(40), default=None)
    model_version: Mapped[str | None] = mapped_column(String(40), default=None)
    resolved_version: Mapped[str | None] = mapped_column(String(40), default=None)
    previous_version: Mapped[str | None] = mapped_column(String(40), default=None)
    model_uri: Mapped[str | None] = mapped_column(String(1000), default=None)
    mode: Mapped[str] = mapped_column(String(20), default="local")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    endpoint: Mapped[str | None] = mapped_column(String(500), default=None)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    canary_traffic_percent: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Experiment(Base):
    """An A/B test on one surface: weighted variants, each pointing at a deployment."""

    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_experiments_tenant_surface_status", "tenant_id", "surface", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    surface: Mapped[str] = mapped_column(String(63), default="default")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    attribution_window_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)


class ExperimentVariantStats(Base):
    """Impressions and attributed clicks of one variant, kept by the stream processor."""

    __tablename__ = "experiment_variant_stats"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    variant: Mapped[str] = mapped_column(String(63), primary_key=True)
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    reward_sum: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExperimentImpression(Base):
    """One logged impression (or a click that arrived before it), kept for the attribution
    window so clicks join it once: the stream processor's idempotency record."""

    __tablename__ = "experiment_impressions"
    __table_args__ = (Index("ix_experiment_impressions_expires_at", "expires_at"),)

    recommendation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment_id: Mapped[str | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), default=None
    )
    variant: Mapped[str | None] = mapped_column(String(63), default=None)
    shown_at: Mapped[datetime | None] = mapped_column(default=None)
    clicked_at: Mapped[datetime | None] = mapped_column(default=None)
    click_counted: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime] = mapped_column()


class BanditPolicy(Base):
    """A tenant's contextual-bandit policy on one surface: its settings (``bandit.config``) and
    learning state (the serving checkpoint, the sequence of closed decisions)."""

    __tablename__ = "bandit_policies"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    surface: Mapped[str] = mapped_column(String(63), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    checkpoint_version: Mapped[str | None] = mapped_column(String(20), default=None)
    checkpoint_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Closed decisions up to this sequence number are in the checkpoint."""
    next_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Sequence number of the last closed decision."""
    learned: Mapped[int] = mapped_column(Integer, default=0)
    last_reward_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BanditDecision(Base):
    """One logged bandit decision awaiting its rewards (or rewards awaiting their decision).

    Closed after the policy's reward wait window with a sequence number; the stream processor
    learns closed decisions in sequence order and deletes them once a checkpoint holds them.
    """

    __tablename__ = "bandit_decisions"
    __table_args__ = (
        Index("ix_bandit_decisions_open", "closed", "expires_at"),
        Index("ix_bandit_decisions_seq", "tenant_id", "surface", "seq"),
    )

    recommendation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    surface: Mapped[str | None] = mapped_column(String(63), default=None)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    rewards: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Item id -> the best reward of its events so far."""
    shown_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column()
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int | None] = mapped_column(Integer, default=None)


class GuardrailSetRow(Base):
    """A tenant's guardrail set on one surface (``guardrails.schemas.GuardrailSet`` as JSON)."""

    __tablename__ = "guardrail_sets"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    surface: Mapped[str] = mapped_column(String(63), primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserErasure(Base):
    """An end user's data erasure (``DELETE /v1/users/{id}``): the request, when the stream
    processor completed it, and what it removed from each store. Kept as the audit record."""

    __tablename__ = "user_erasures"
    __table_args__ = (Index("ix_user_erasures_pending", "completed_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column()
    requested_by: Mapped[str | None] = mapped_column(String(40), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """The answer to a ``POST`` sent with an ``Idempotency-Key``: a retry with the same key and
    credential gets it again instead of creating a second resource. ``status`` is None while the
    first request runs."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    """sha256 of the presented credential: keys of different callers never meet."""
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


__all__ = [
    "ApiKey",
    "BanditDecision",
    "BanditPolicy",
    "Base",
    "CatalogItem",
    "Deployment",
    "Experiment",
    "ExperimentImpression",
    "ExperimentVariantStats",
    "GuardrailSetRow",
    "IdempotencyRecord",
    "ProvisionedResource",
    "Tenant",
    "TrainingRun",
    "TrainingSchedule",
    "UserErasure",
]
