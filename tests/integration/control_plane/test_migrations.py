"""Alembic migrations: upgrade to head matches the models; downgrade to base and back works."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine
from recsys_platform.db.models import Base

pytestmark = pytest.mark.integration


def test_head_matches_models_and_downgrade_round_trips(database_url: str) -> None:
    engine = build_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"

    migrate.downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert {"tenants", "api_keys", "catalog_items", "provisioned_resources"} <= set(
        sa.inspect(engine).get_table_names()
    )
    engine.dispose()
