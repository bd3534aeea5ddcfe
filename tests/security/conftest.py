"""The live platform (real control plane and gateway over HTTP) shared by the security suites."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.services import Platform, platform

#: The tenant the fuzzer works in.
TENANT = "fuzz-shop"


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, mlflow_tracking_uri: str
) -> Iterator[tuple[Platform, dict[str, str]]]:
    """The platform on a PostgreSQL database of its own, with :data:`TENANT` onboarded."""
    import sqlalchemy as sa
    from recsys_platform.db import migrate

    name = f"sec_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        with platform(url, tmp_path_factory.mktemp("security"), mlflow_tracking_uri) as p:
            keys: dict[str, Any] = p.onboard(TENANT)
            yield p, keys
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
