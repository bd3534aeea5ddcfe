"""Shared fixtures: real services (PostgreSQL, Redis, Kafka, MLflow) and control-plane apps.

Services are started by ``scripts/services/start.sh`` (the test command in README
does it). A fixture that needs a service and cannot reach it FAILS with a message
naming the service; it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import SpanProcessor
from recsys_platform.control_plane.app import create_app
from recsys_platform.provisioning.ports import Provisioner
from recsys_platform.settings import ControlPlaneSettings

from tests.factories import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[1]
SERVICES_ENV = ROOT / ".cache" / "services" / "env"
START_HINT = "start the test services with `bash scripts/services/start.sh all`"


def _service_env(name: str) -> str | None:
    """From the environment, else from the env file written by scripts/services/start.sh."""
    if os.environ.get(name):
        return os.environ[name]
    if SERVICES_ENV.exists():
        for line in SERVICES_ENV.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key.strip() == name:
                return value.strip().strip("'\"")
    return None


def _require(name: str, service: str) -> str:
    value = _service_env(name)
    if not value:
        pytest.fail(f"{service} is not available: {name} is not set; {START_HINT}", pytrace=False)
    return value


# -- real services ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = _require("RECSYS_TEST_POSTGRES_URL", "PostgreSQL")
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {url} is not reachable ({exc}); {START_HINT}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = _require("RECSYS_TEST_REDIS_URL", "Redis")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as exc:
        pytest.fail(f"Redis at {url} is not reachable ({exc}); {START_HINT}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = _require("RECSYS_TEST_KAFKA_BOOTSTRAP", "Kafka")
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        admin.list_topics()
        admin.close()
    except Exception as exc:
        pytest.fail(f"Kafka at {bootstrap} is not reachable ({exc}); {START_HINT}", pytrace=False)
    return bootstrap


@pytest.fixture(scope="session")
def mlflow_tracking_uri() -> str:
    """URL of the MLflow tracking server + model registry started by scripts/services/start.sh."""
    url = _require("RECSYS_TEST_MLFLOW_URL", "MLflow")
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=5.0)
        response.raise_for_status()
    except Exception as exc:
        pytest.fail(f"MLflow at {url} is not reachable ({exc}); {START_HINT}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def postgres_test_db(postgres_url: str) -> Iterator[str]:
    """A database of its own for this test session, migrated to head once."""
    import sqlalchemy as sa
    from recsys_platform.db import migrate
    from recsys_platform.db.engine import build_engine

    name = f"recsys_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE catalog_items, provisioned_resources, api_keys, tenants CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'control-plane.db'}"
    url: str = request.getfixturevalue("postgres_test_db")
    _truncate(url)
    return url


# -- apps --------------------------------------------------------------------------------------

AppFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(database_url: str) -> AppFactory:
    """Build a control-plane app on the test database and open a client with its lifespan."""

    @contextmanager
    def factory(
        provisioners: list[Provisioner] | None = None,
        span_processors: list[SpanProcessor] | None = None,
        auth_changes: Any = None,
        **overrides: Any,
    ) -> Iterator[TestClient]:
        settings = ControlPlaneSettings(
            admin_token=ADMIN_TOKEN,
            database={"url": database_url},
            **overrides,
        )
        app = create_app(
            settings,
            provisioners=provisioners or [],
            span_processors=span_processors,
            auth_changes=auth_changes,
        )
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return factory


@pytest.fixture
def client(make_client: AppFactory) -> Iterator[TestClient]:
    with make_client() as c:
        yield c
