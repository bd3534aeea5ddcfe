"""RoutingTable reads deployments and running experiments from the database, with a TTL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory, transaction
from recsys_platform.db.models import Deployment, Experiment, Tenant
from recsys_platform.gateway.routing import RoutingTable
from sqlalchemy.orm import Session, sessionmaker


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = build_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        for t in ("acme", "globex"):
            s.add(Tenant(id=t, display_name=t, use_case="news", quotas={}, retention={}, catalog_schema={}))
        s.flush()
        for tenant, name, status, endpoint in [
            ("acme", "default", "ready", "http://a:1"),
            ("acme", "canary", "pending", "http://a:2"),
            ("acme", "nowhere", "ready", None),
            ("globex", "default", "ready", "http://g:1"),
        ]:
            s.add(
                Deployment(id=uuid.uuid4().hex, tenant_id=tenant, name=name, status=status, endpoint=endpoint)
            )
        s.add(Experiment(id="e1", tenant_id="acme", name="exp", surface="home", status="running",
                         variants=[{"name": "c", "deployment": "default", "weight": 3},
                                   {"name": "t", "deployment": "canary", "weight": 1}],
                         attribution_window_seconds=60))  # fmt: skip
        s.add(Experiment(id="e2", tenant_id="acme", name="old", surface="home", status="stopped",
                         variants=[], attribution_window_seconds=60))  # fmt: skip
    return factory


def test_routes_hold_only_the_tenants_ready_deployments_and_running_experiments(
    sessions: sessionmaker[Session],
) -> None:
    table = RoutingTable(sessions, ttl_seconds=60)
    acme = table.routes("acme")
    assert set(acme.targets) == {"default"}  # pending and endpoint-less deployments are not routable
    assert acme.default is not None and acme.default.url == "http://a:1/v1/models/default:predict"
    exp = acme.experiments["home"]
    assert exp.name == "exp" and exp.weights == [("c", 3.0), ("t", 1.0)]
    assert exp.variant("c").target == acme.default
    assert exp.variant("t").target is None  # not ready: its traffic gets the fallback list
    globex = table.routes("globex")
    assert globex.default is not None and globex.default.url.startswith("http://g:1")
    assert globex.experiments == {}


def test_cache_ttl_and_invalidation(sessions: sessionmaker[Session]) -> None:
    table = RoutingTable(sessions, ttl_seconds=60)
    assert table.cached("acme") is None
    first = table.routes("acme")
    assert table.cached("acme") is first
    with transaction(sessions) as s:
        s.get(Experiment, "e1").status = "stopped"  # type: ignore[union-attr]
    assert table.routes("acme").experiments  # still cached
    table.invalidate("acme")
    assert table.routes("acme").experiments == {}
