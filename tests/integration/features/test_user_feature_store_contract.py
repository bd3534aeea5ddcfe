"""The Feast user feature store against real online stores and registries.

Each backend runs the same contract: Redis with file registries, SQLite with
file registries, and Redis with a SQL registry in PostgreSQL shared by all
tenants (the Kubernetes layout). Every test uses tenants of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from recsys_platform.errors import DependencyUnavailable, NotFound
from recsys_platform.features.feast_repo import FeastStores, project_name
from recsys_platform.features.feast_store import FeastUserFeatureStore
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.features.state import UserState
from recsys_platform.provisioning.feast_project import FeastProvisioner
from recsys_platform.provisioning.ports import ResourceRef, TenantContext
from recsys_platform.tenancy.schemas import Retention

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry_db(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own for the SQL registry of this module's tests."""
    import sqlalchemy as sa

    name = f"feast_registry_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["redis", "sqlite", "redis+sql-registry"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> FeatureStoreSettings:
    online = "sqlite" if request.param == "sqlite" else "redis"
    return FeatureStoreSettings(
        online_store=online,
        redis_url=request.getfixturevalue("redis_url") if online == "redis" else None,
        registry_url=request.getfixturevalue("registry_db")
        if request.param.endswith("sql-registry")
        else None,
        sqlite_dir=tmp_path / "online",
        registry=tmp_path / "registry",
        offline_root=tmp_path / "offline",
    )


@dataclass
class Env:
    """A store and a provisioner sharing their cached Feast stores, plus fresh tenants."""

    store: FeastUserFeatureStore
    provisioner: FeastProvisioner
    tenants: dict[str, list[ResourceRef]] = field(default_factory=dict)

    def tenant(self, tenant_id: str | None = None) -> str:
        tenant_id = tenant_id or f"ft-{uuid.uuid4().hex[:10]}"
        self.tenants[tenant_id] = self.provisioner.provision(TenantContext(tenant_id, "news", Retention()))
        return tenant_id


@pytest.fixture
def env(settings: FeatureStoreSettings) -> Iterator[Env]:
    stores = FeastStores(settings)
    env = Env(FeastUserFeatureStore(settings, stores), FeastProvisioner(settings, stores))
    yield env
    for tenant_id, refs in env.tenants.items():  # leave no rows behind in the shared Redis
        env.provisioner.deprovision(tenant_id, refs)
    stores.close()


def full_state(user_id: str, n: int = 1) -> UserState:
    return UserState(
        user_id=user_id,
        recent_items=("item-3", "ïtem 2", "item-1"),
        recent_weights=(1.0, -0.5, 4.5),
        recent_times_ms=(1_700_000_000_000 + n, 1_699_000_000_000, 1_600_000_000_000),
        session_id=f"s-{n}",
        session_clicks=3 * n,
        session_items=("item-3", "ïtem 2"),
        category_affinity={"sports": 1.25, "politics": -0.5},
        last_event_ms=1_700_000_000_000 + n,
        event_count=7 * n,
        applied_event_ids=tuple(f"e{i}" for i in range(n, n + 5)),
    )


def test_a_thousand_item_history_round_trips(env: Env) -> None:
    tenant = env.tenant()
    n = 1000
    state = UserState(
        user_id="heavy",
        recent_items=tuple(f"item-{i:05d}" for i in range(n)),
        recent_weights=tuple(float(i % 5 + 1) for i in range(n)),
        recent_times_ms=tuple(1_700_000_000_000 - i * 1000 for i in range(n)),
    )
    env.store.write(tenant, [state])
    assert env.store.read(tenant, "heavy") == state


def test_round_trip_of_every_field(env: Env) -> None:
    tenant = env.tenant()
    state = full_state("u1")
    env.store.write(tenant, [state])
    assert env.store.read(tenant, "u1") == state


def test_empty_lists_strings_and_zeros_round_trip(env: Env) -> None:
    tenant = env.tenant()
    empty = UserState(user_id="u-empty")
    env.store.write(tenant, [empty])
    assert env.store.read(tenant, "u-empty") == empty
    # ...also when they replace a full row
    env.store.write(tenant, [full_state("u2")])
    env.store.write(tenant, [UserState(user_id="u2")])
    assert env.store.read(tenant, "u2") == UserState(user_id="u2")


def test_second_write_replaces_first_even_with_older_last_event(env: Env) -> None:
    tenant = env.tenant()
    env.store.write(tenant, [full_state("u1", n=9)])
    older = full_state("u1", n=2)
    assert older.last_event_ms < full_state("u1", n=9).last_event_ms
    env.store.write(tenant, [older])
    assert env.store.read(tenant, "u1") == older
    for n in range(3, 8):  # back-to-back writes within the same microsecond range
        env.store.write(tenant, [full_state("u1", n=n)])
    assert env.store.read(tenant, "u1") == full_state("u1", n=7)


def test_missing_user_is_none(env: Env) -> None:
    tenant = env.tenant()
    assert env.store.read(tenant, "nobody") is None
    env.store.write(tenant, [full_state("u1")])
    assert env.store.read(tenant, "nobody") is None


def test_read_many_leaves_out_missing_users(env: Env) -> None:
    tenant = env.tenant()
    states = [full_state(f"u{i}", n=i) for i in range(50)]
    env.store.write(tenant, states)
    got = env.store.read_many(tenant, ["u3", "nobody", "u49", "u3"])
    assert got == {"u3": states[3], "u49": states[49]}
    assert env.store.read_many(tenant, []) == {}
    assert env.store.read_many(tenant, [s.user_id for s in states]) == {s.user_id: s for s in states}


def test_a_user_twice_in_one_batch_keeps_the_later_state(env: Env) -> None:
    tenant = env.tenant()
    env.store.write(tenant, [full_state("u1", n=5), full_state("u1", n=1)])
    assert env.store.read(tenant, "u1") == full_state("u1", n=1)


def test_tenants_are_isolated(env: Env) -> None:
    a, b = env.tenant(), env.tenant()
    env.store.write(a, [full_state("same-user", n=1)])
    env.store.write(b, [full_state("same-user", n=2)])
    assert env.store.read(a, "same-user") == full_state("same-user", n=1)
    assert env.store.read(b, "same-user") == full_state("same-user", n=2)


def test_deprovision_removes_only_that_tenant(env: Env, settings: FeatureStoreSettings) -> None:
    # "big-<id>" maps to a project ending in the other's project name: the case where
    # Feast's Redis teardown pattern "<prefix>*<project>" would reach the other tenant.
    gone = env.tenant()
    kept = env.tenant(f"big-{gone}")
    for tenant in (gone, kept):
        env.store.write(tenant, [full_state(f"u{i}") for i in range(10)])

    env.provisioner.deprovision(gone, env.tenants[gone])
    env.provisioner.deprovision(gone, env.tenants[gone])  # already gone: no error

    assert env.store.read_many(kept, [f"u{i}" for i in range(10)]) == {
        f"u{i}": full_state(f"u{i}") for i in range(10)
    }
    if settings.online_store == "sqlite":
        assert not (settings.sqlite_dir / f"{project_name(gone)}.db").exists()
    if not settings.registry_url:
        assert not (settings.registry / f"{project_name(gone)}.pb").exists()
    with pytest.raises(NotFound, match=gone):
        env.store.read(gone, "u1")
    with pytest.raises(NotFound, match=gone):
        env.store.write(gone, [full_state("u1")])
    if not settings.registry_url:  # reading a removed tenant leaves nothing behind
        assert not (settings.registry / f"{project_name(gone)}.pb").exists()
    # Provisioned again, the tenant starts empty: the old rows are gone, not just unregistered.
    env.tenant(gone)
    assert env.store.read_many(gone, [f"u{i}" for i in range(10)]) == {}


def test_provisioning_twice_is_idempotent(env: Env) -> None:
    tenant = env.tenant()
    env.store.write(tenant, [full_state("u1")])
    again = env.provisioner.provision(TenantContext(tenant, "news", Retention()))
    assert again == env.tenants[tenant] == [ResourceRef("feast_project", project_name(tenant))]
    assert env.store.read(tenant, "u1") == full_state("u1")


def test_a_second_process_sees_a_tenant_provisioned_after_its_registry_was_cached(
    env: Env, settings: FeatureStoreSettings
) -> None:
    tenant = f"ft-{uuid.uuid4().hex[:10]}"
    other_process = FeastUserFeatureStore(settings)
    with pytest.raises(NotFound, match=tenant):
        other_process.read(tenant, "u1")  # with a SQL registry, this caches it without the tenant
    env.tenant(tenant)
    other_process.write(tenant, [full_state("u1")])
    assert other_process.read(tenant, "u1") == full_state("u1")
    other_process.close()


def test_concurrent_writers_and_readers(env: Env) -> None:
    tenant = env.tenant()
    errors: list[BaseException] = []

    def worker(w: int) -> Callable[[], None]:
        def run() -> None:
            try:
                for n in range(20):
                    env.store.write(tenant, [full_state(f"w{w}-u{n % 5}", n=n)])
                    env.store.read(tenant, f"w{w}-u{n % 5}")
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=worker(w)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = env.store.read_many(tenant, [f"w{w}-u{u}" for w in range(6) for u in range(5)])
    assert got == {f"w{w}-u{u}": full_state(f"w{w}-u{u}", n=15 + u) for w in range(6) for u in range(5)}


def test_check_passes_when_the_online_store_is_up(env: Env) -> None:
    env.store.check()
    env.provisioner.check()


def test_redis_down_raises_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = FeatureStoreSettings(
        online_store="redis",
        redis_url=f"redis://127.0.0.1:{port}/0",
        registry=tmp_path / "registry",
        offline_root=tmp_path / "offline",
    )
    stores = FeastStores(settings)
    tenant = "down-tenant"
    FeastProvisioner(settings, stores).provision(TenantContext(tenant, "news", Retention()))
    store = FeastUserFeatureStore(settings, stores)
    with pytest.raises(DependencyUnavailable, match="writing 1 user states of tenant 'down-tenant'"):
        store.write(tenant, [full_state("u1")])
    with pytest.raises(DependencyUnavailable, match="ConnectionError"):
        store.read(tenant, "u1")
    with pytest.raises(Exception, match="Connection refused|Error 111"):
        store.check()
    stores.close()
