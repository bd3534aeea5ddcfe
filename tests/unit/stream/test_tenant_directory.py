"""The processor's tenant directory must find a tenant onboarded after its last reload."""

from __future__ import annotations

from pathlib import Path

from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.db.models import CatalogItem, Tenant
from recsys_platform.stream.directory import TenantDirectory


def _tenant(tenant_id: str) -> Tenant:
    return Tenant(
        id=tenant_id,
        display_name=tenant_id,
        use_case="news",
        status="active",
        quotas={},
        retention={},
        catalog_schema={},
        labels={},
    )


def test_a_new_tenant_is_found_right_after_a_reload(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(_tenant("first"))
    directory = TenantDirectory(sessions, ttl_seconds=60)
    assert directory.tenant("first") is not None
    with sessions.begin() as s:
        s.add(_tenant("second"))
    # no wait: the miss itself must reload (its events were accepted, so it is active)
    assert directory.tenant("second") is not None
    assert directory.tenant("never") is None


def test_item_categories_from_category_and_genres(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(_tenant("t1"))
        s.flush()
        s.add(CatalogItem(tenant_id="t1", item_id="a", attributes={"category": "news"}))
        s.add(CatalogItem(tenant_id="t1", item_id="b", attributes={"genres": ["drama", "comedy"]}))
    directory = TenantDirectory(sessions)
    assert directory.categories("t1", "a") == ("news",)
    assert directory.categories("t1", "b") == ("drama", "comedy")
    assert directory.categories("t1", "unknown") == ()
