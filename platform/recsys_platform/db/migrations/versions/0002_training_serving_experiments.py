"""Training runs and schedules, deployments, experiments and their per-variant stats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from recsys_platform.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant_fk(primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(40),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        _tenant_fk(),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(60), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("data_window", sa.JSON(), nullable=False),
        sa.Column("pipeline_run_id", sa.String(200), nullable=True),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(40), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_training_runs_tenant_requested", "training_runs", ["tenant_id", "requested_at"])
    op.create_table(
        "training_schedules",
        _tenant_fk(primary_key=True),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=False),
        sa.Column("last_run_id", sa.String(40), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(40), primary_key=True),
        _tenant_fk(),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("model_alias", sa.String(40), nullable=True),
        sa.Column("model_version", sa.String(40), nullable=True),
        sa.Column("resolved_version", sa.String(40), nullable=True),
        sa.Column("previous_version", sa.String(40), nullable=True),
        sa.Column("model_uri", sa.String(1000), nullable=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("endpoint", sa.String(500), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("canary_traffic_percent", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_index("ix_deployments_tenant_id", "deployments", ["tenant_id"])
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(40), primary_key=True),
        _tenant_fk(),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("surface", sa.String(63), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("attribution_window_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_index("ix_experiments_tenant_surface_status", "experiments", ["tenant_id", "surface", "status"])
    op.create_table(
        "experiment_variant_stats",
        sa.Column(
            "experiment_id",
            sa.String(40),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("variant", sa.String(63), primary_key=True),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("reward_sum", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "experiment_impressions",
        sa.Column("recommendation_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.String(40),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("variant", sa.String(63), nullable=True),
        sa.Column("shown_at", UTCDateTime(), nullable=True),
        sa.Column("clicked_at", UTCDateTime(), nullable=True),
        sa.Column("click_counted", sa.Boolean(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_experiment_impressions_expires_at", "experiment_impressions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_experiment_impressions_expires_at", "experiment_impressions")
    op.drop_table("experiment_impressions")
    op.drop_table("experiment_variant_stats")
    op.drop_index("ix_experiments_tenant_surface_status", "experiments")
    op.drop_table("experiments")
    op.drop_index("ix_deployments_tenant_id", "deployments")
    op.drop_table("deployments")
    op.drop_table("training_schedules")
    op.drop_index("ix_training_runs_tenant_requested", "training_runs")
    op.drop_table("training_runs")
