"""Contextual-bandit policies per tenant and surface, their logged decisions, guardrail sets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from recsys_platform.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bandit_policies",
        sa.Column(
            "tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("surface", sa.String(63), primary_key=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("checkpoint_version", sa.String(20), nullable=True),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.Column("learned", sa.Integer(), nullable=False),
        sa.Column("last_reward_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "bandit_decisions",
        sa.Column("recommendation_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("surface", sa.String(63), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("rewards", sa.JSON(), nullable=False),
        sa.Column("shown_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
    )
    op.create_table(
        "guardrail_sets",
        sa.Column(
            "tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("surface", sa.String(63), primary_key=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_bandit_decisions_open", "bandit_decisions", ["closed", "expires_at"])
    op.create_index("ix_bandit_decisions_seq", "bandit_decisions", ["tenant_id", "surface", "seq"])


def downgrade() -> None:
    op.drop_index("ix_bandit_decisions_seq", "bandit_decisions")
    op.drop_index("ix_bandit_decisions_open", "bandit_decisions")
    op.drop_table("bandit_decisions")
    op.drop_table("bandit_policies")
    op.drop_table("guardrail_sets")
