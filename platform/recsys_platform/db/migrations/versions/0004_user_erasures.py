"""End users' data erasures (request, completion, what was removed): the audit record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from recsys_platform.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_erasures",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
    )
    op.create_index("ix_user_erasures_tenant_id", "user_erasures", ["tenant_id"])
    op.create_index("ix_user_erasures_pending", "user_erasures", ["completed_at"])


def downgrade() -> None:
    op.drop_table("user_erasures")
