"""Deleting a tenant purges every store, and the id can be onboarded again from empty.

Everything is real: the control plane (its own provisioners, through the API), the gateway,
the stream processor as ``recsys-stream`` wires it, the event log (Kafka, or the embedded
SQLite log), the Feast online store (Redis, or SQLite files), the streaming item state, the
offline Parquet files and a local MLflow registry. Regression for findings 2 and 3 of
issue 11: the old owner's offline files survived, a re-created id skipped its first events
(the old topic's length), and the processor retried "attempt to write a readonly database"
forever, for every tenant.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from recsys_platform.control_plane.app import create_app as create_control_plane
from recsys_platform.events.factory import build_event_log
from recsys_platform.features.feast_store import FeastUserFeatureStore
from recsys_platform.features.state import UserState
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.settings import ControlPlaneSettings, GatewaySettings, StreamSettings
from recsys_platform.stream.service import build_processor, health_app
from recsys_platform.streaming.wiring import item_stats_for

from tests.integration.event_path import auth, event, new_prefix

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer purge-admin-token"}


@dataclass
class Platform:
    control: TestClient
    gateway: TestClient
    stream: StreamSettings
    features: FeastUserFeatureStore
    offline: OfflineEventStore
    mlflow_artifacts: Path
    processor: Any
    health: TestClient

    def onboard(self, tenant: str) -> str:
        body = {
            "id": tenant,
            "display_name": tenant,
            "use_case": "news",
            "quotas": {"events_per_second": 10_000},
        }
        response = self.control.post("/v1/tenants", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        key = self.control.post(
            f"/v1/tenants/{tenant}/api-keys", json={"name": "k", "scopes": ["events:write"]}, headers=ADMIN
        )
        assert key.status_code == 201, key.text
        return str(key.json()["key"])

    def send(self, key: str, events: list[dict[str, Any]]) -> None:
        response = self.gateway.post("/v1/events", json={"events": events}, headers=auth(key))
        assert response.status_code == 200, response.text
        assert all(r["status"] == "accepted" for r in response.json()["results"]), response.text

    def wait_for(
        self, tenant: str, user: str, predicate: Callable[[UserState | None], bool], timeout: float = 30.0
    ) -> UserState | None:
        deadline = time.monotonic() + timeout
        state: UserState | None = None
        while time.monotonic() < deadline:
            try:
                state = self.features.read(tenant, user)
            except Exception:  # the project may be between purge and re-creation
                state = None
            if predicate(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"features of {tenant}/{user} never matched; last: {state}")


@contextmanager
def platform(tmp: Path, backend: str, kafka: str | None, redis_url: str | None) -> Iterator[Platform]:
    prefix = new_prefix()
    db = f"sqlite:///{tmp / 'platform.db'}"
    event_log: dict[str, Any] = {"backend": backend, "sqlite_path": str(tmp / "events.db")}
    event_log["kafka"] = {"topic_prefix": prefix, "bootstrap_servers": kafka, "partitions": 2}
    feature_store: dict[str, Any] = {
        "online_store": "redis" if redis_url else "sqlite",
        "redis_url": redis_url,
        "sqlite_dir": tmp / "feast-online",
        "registry": tmp / "feast-registry",
        "offline_root": tmp / "offline",
    }
    artifacts = tmp / "mlflow-artifacts"
    control_settings = ControlPlaneSettings(
        admin_token="purge-admin-token",
        database={"url": db},
        event_log=event_log,
        feature_store=feature_store,
        stream_group_id=f"stream-{prefix}",
        mlflow={"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}", "artifact_root": str(artifacts)},
    )
    stream_settings = StreamSettings(
        database={"url": db},
        event_log=event_log,
        feature_store=feature_store,
        group_id=f"stream-{prefix}",
        poll_timeout_seconds=0.02,
        retry_backoff_max_seconds=0.5,
        metrics_port=0,
    )
    gateway_settings = GatewaySettings(database={"url": db}, event_log=event_log, key_cache_seconds=0.5)
    control = TestClient(create_control_plane(control_settings), raise_server_exceptions=False)
    with control:
        registry = CollectorRegistry()
        processor, checks = build_processor(stream_settings, registry)
        thread = threading.Thread(target=processor.run, daemon=True)
        gateway_log = build_event_log(gateway_settings.event_log, client_id="test-gateway")
        from recsys_platform.gateway.app import create_app as create_gateway

        gateway = TestClient(
            create_gateway(gateway_settings, event_log=gateway_log), raise_server_exceptions=False
        )
        with gateway:
            thread.start()
            try:
                yield Platform(
                    control,
                    gateway,
                    stream_settings,
                    FeastUserFeatureStore(stream_settings.feature_store),
                    OfflineEventStore(stream_settings.feature_store.offline_root),
                    artifacts,
                    processor,
                    TestClient(health_app(checks, registry)),
                )
            finally:
                processor.stop()
                thread.join(timeout=30)
        gateway_log.close()


@pytest.fixture(params=["embedded", "kafka"])
def plat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    if request.param == "kafka":
        kafka = request.getfixturevalue("kafka_bootstrap")
        redis_url = request.getfixturevalue("redis_url")
        with platform(tmp_path, "kafka", kafka, redis_url) as p:
            yield p
    else:
        with platform(tmp_path, "sqlite", None, None) as p:
            yield p


def _log_model_artifact(p: Platform, tenant: str) -> Path:
    """A run with an artifact in the tenant's MLflow experiment, as training leaves one."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=p.control.app.state.services.settings.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(f"recsys-{tenant}")
    assert experiment is not None, "onboarding creates the tenant's experiment"
    run = client.create_run(experiment.experiment_id)
    source = p.mlflow_artifacts.parent / "model.txt"
    source.write_text("old owner's model")
    client.log_artifact(run.info.run_id, str(source))
    client.set_terminated(run.info.run_id)
    folder = Path(run.info.artifact_uri.removeprefix("file://"))
    assert (folder / "model.txt").is_file()
    return folder


def test_a_purged_id_starts_empty_and_its_new_owners_events_are_applied(plat: Platform) -> None:
    suffix = uuid.uuid4().hex[:6]
    shop, other = f"shop-{suffix}", f"other-{suffix}"
    old_key, other_key = plat.onboard(shop), plat.onboard(other)
    plat.send(old_key, [event(f"old-{i}", user=f"old-u{i % 2}", item=f"i{i}") for i in range(8)])
    plat.send(other_key, [event("o-1", user="ann", item="x1")])
    plat.wait_for(shop, "old-u0", lambda s: s is not None and s.event_count == 4)
    plat.wait_for(other, "ann", lambda s: s is not None and s.event_count == 1)
    assert plat.offline.read(shop).num_rows == 8
    model_folder = _log_model_artifact(plat, shop)

    response = plat.control.delete(f"/v1/tenants/{shop}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "deleted"

    # every store of the old owner is empty
    assert not plat.offline.tenant_dir(shop).exists()
    assert not model_folder.exists(), "the old owner's model artifacts survived the purge"
    item_stats = item_stats_for(plat.stream.feature_store)
    try:
        assert item_stats.watermark(shop) is None
    finally:
        item_stats.close()

    new_key = plat.onboard(shop)
    time.sleep(1.0)  # the gateway's key cache (0.5 s) has forgotten the old key
    stale = plat.gateway.post("/v1/events", json={"events": [event("stale")]}, headers=auth(old_key))
    assert stale.status_code == 401, stale.text

    # The new owner's first events are applied: none skipped for the old topic's length,
    # and the processor did not stall on the old owner's store (the other tenant goes on).
    plat.send(new_key, [event("new-1", user="new-u", item="n1"), event("new-2", user="new-u", item="n2")])
    plat.send(other_key, [event("o-2", user="ann", item="x2")])
    try:
        state = plat.wait_for(shop, "new-u", lambda s: s is not None and s.event_count == 2, timeout=60)
    except AssertionError as exc:  # say what the processor was doing
        raise AssertionError(
            f"{exc}; held: {plat.processor.paused_tenants()}; lag: {plat.processor.lag()}"
        ) from None
    assert state is not None and state.recent_items == ("n2", "n1")
    plat.wait_for(other, "ann", lambda s: s is not None and s.event_count == 2)
    assert plat.features.read(shop, "old-u0") is None, "the old owner's profile came back"
    assert sorted(plat.offline.read(shop).column("event_id").to_pylist()) == ["e-new-1", "e-new-2"]

    # lag per tenant is an API resource, readable with the tenant's own admin key
    lag = plat.control.get(f"/v1/tenants/{shop}/lag", headers=ADMIN)
    assert lag.status_code == 200, lag.text
    deadline = time.monotonic() + 20
    while lag.json()["total"] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        lag = plat.control.get(f"/v1/tenants/{shop}/lag", headers=ADMIN)
    assert lag.json()["total"] == 0, lag.json()
    assert set(lag.json()["topics"]) >= {f"{plat.stream.event_log.kafka.topic_prefix}.{shop}.events"}
    assert plat.processor.paused_tenants() == {}


def test_a_tenant_whose_store_fails_is_held_alone_and_catches_up_without_losing_events(
    plat: Platform,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    broken, healthy = f"broken-{suffix}", f"healthy-{suffix}"
    broken_key, healthy_key = plat.onboard(broken), plat.onboard(healthy)
    plat.send(broken_key, [event("b-0", user="bea", item="i0")])
    plat.wait_for(broken, "bea", lambda s: s is not None and s.event_count == 1)

    # Break the tenant's offline store: its folder becomes a file, so every write fails.
    folder = plat.offline.tenant_dir(broken)
    deadline = time.monotonic() + 20  # the offline file is written after the user row
    while not folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    moved = folder.with_name(folder.name + ".aside")
    folder.rename(moved)
    folder.write_text("not a folder")

    plat.send(broken_key, [event(f"b-{i}", user="bea", item=f"i{i}") for i in range(1, 6)])
    for i in range(5):
        plat.send(healthy_key, [event(f"h-{i}", user="hal", item=f"i{i}")])
    # the other tenant is applied while the broken one is held
    plat.wait_for(healthy, "hal", lambda s: s is not None and s.event_count == 5, timeout=20)
    deadline = time.monotonic() + 20
    while broken not in plat.processor.paused_tenants() and time.monotonic() < deadline:
        time.sleep(0.05)
    ready = plat.health.get("/readyz")
    assert ready.status_code == 503 and broken in ready.json()["checks"]["tenants"]["error"], ready.text
    assert healthy not in ready.json()["checks"]["tenants"]["error"]
    metrics = plat.health.get("/metrics").text
    assert f'recsys_stream_tenant_paused{{tenant="{broken}"}} 1.0' in metrics

    # Repair the store: the held events are applied once, nothing lost, readiness returns.
    folder.unlink()
    moved.rename(folder)
    state = plat.wait_for(broken, "bea", lambda s: s is not None and s.event_count == 6, timeout=30)
    assert state is not None and len(set(state.applied_event_ids)) == 6
    expected = sorted(f"e-b-{i}" for i in range(6))
    deadline = time.monotonic() + 20
    while sorted(plat.offline.read(broken).column("event_id").to_pylist()) != expected:
        assert time.monotonic() < deadline, plat.offline.read(broken).column("event_id").to_pylist()
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while plat.health.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert plat.health.get("/readyz").status_code == 200
    assert f'recsys_stream_tenant_paused{{tenant="{broken}"}} 0.0' in plat.health.get("/metrics").text


def test_an_end_users_data_is_erased_from_every_store_and_exported_before(plat: Platform) -> None:
    from recsys_platform.db.engine import build_engine, session_factory
    from recsys_platform.db.models import ExperimentImpression

    tenant = f"gdpr-{uuid.uuid4().hex[:6]}"
    events_key = plat.onboard(tenant)
    created = plat.control.post(
        f"/v1/tenants/{tenant}/api-keys",
        json={"name": "dpo", "scopes": ["users:delete", "users:export"]},
        headers=ADMIN,
    )
    dpo = auth(created.json()["key"])
    gone = [
        event("g1", user="gone", item="i1", session_id="sx"),
        event("g2", user="gone", item="i2", session_id="sx", recommendation_id="rec-gone"),
        event("g3", user="gone", item="i3"),
    ]
    plat.send(events_key, [*gone, event("k1", user="kept", item="i1", session_id="sk")])
    plat.wait_for(tenant, "gone", lambda s: s is not None and s.event_count == 3)
    plat.wait_for(tenant, "kept", lambda s: s is not None and s.event_count == 1)
    deadline = time.monotonic() + 20
    while plat.offline.read(tenant).num_rows < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sessions = session_factory(build_engine(plat.stream.database.url))
    with sessions() as s:
        assert s.get(ExperimentImpression, ("rec-gone", tenant)) is not None  # the click's attribution row
    item_stats = item_stats_for(plat.stream.feature_store)

    # export: everything held about the user
    export = plat.control.get("/v1/users/gone/export", headers=dpo)
    assert export.status_code == 200, export.text
    assert [e["event_id"] for e in export.json()["events"]] == ["e-g1", "e-g2", "e-g3"]
    assert export.json()["features"]["event_count"] == 3
    # scopes and tenancy: an events key cannot erase, the admin token names no tenant
    assert plat.control.delete("/v1/users/gone", headers=auth(events_key)).status_code == 403
    assert plat.control.delete("/v1/users/gone", headers=ADMIN).status_code == 403

    erased = plat.control.delete("/v1/users/gone", headers=dpo)
    assert erased.status_code == 202, erased.text
    assert erased.json()["status"] == "pending"
    deadline = time.monotonic() + 60
    record = erased.json()
    while record["status"] != "completed":
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
        record = plat.control.get("/v1/users/gone/export", headers=dpo).json()["erasures"][-1]
    assert record["removed"]["offline_events"] == 3 and record["removed"]["online_rows"] == 1
    assert record["removed"]["attribution_rows"] == 1

    # gone from every store; the other user is untouched
    assert plat.features.read(tenant, "gone") is None
    assert plat.features.read(tenant, "kept") is not None
    users = set(plat.offline.read(tenant).column("user_id").to_pylist())
    assert users == {"kept"}, "the next training run would still see the erased user's events"
    with sessions() as s:
        assert s.get(ExperimentImpression, ("rec-gone", tenant)) is None
    try:
        assert item_stats.delete_sessions(tenant, ["sx", "u:gone"]) == 0, "session state survived"
        assert item_stats.delete_sessions(tenant, ["sk"]) == 1  # the kept user's session is there
    finally:
        item_stats.close()
    after = plat.control.get("/v1/users/gone/export", headers=dpo).json()
    assert after["events"] == [] and after["features"] is None and len(after["erasures"]) == 1

    # an old event of the user coming again from the log (a replay: received before the
    # request) is dropped; events received after the erasure are new data, from empty
    from datetime import UTC, datetime, timedelta

    from recsys_platform.events.log import OutgoingRecord
    from recsys_platform.events.schemas import Event, encode_envelope

    replayed = encode_envelope(
        tenant, Event.model_validate(gone[0]), datetime.now(UTC) - timedelta(minutes=5)
    )
    log = build_event_log(plat.stream.event_log, client_id="test-replay")
    try:
        topic = f"{plat.stream.event_log.kafka.topic_prefix}.{tenant}.events"
        assert all(r.ok for r in log.append(topic, [OutgoingRecord(value=replayed, key=b"gone")]))
    finally:
        log.close()
    plat.send(events_key, [event("g4", user="gone", item="i4")])
    state: UserState | None = plat.wait_for(tenant, "gone", lambda s: s is not None)
    assert state is not None and state.applied_event_ids == ("e-g4",), state


def test_a_recreated_ids_fallback_list_is_not_the_previous_owners(tmp_path: Path) -> None:
    """The gateway's popularity fallback (catalog-based without a deployment) of a purged id
    that is onboarded again must not keep the old owner's items."""
    import asyncio

    from recsys_platform.catalog.service import CatalogService
    from recsys_platform.gateway.fallback import FallbackCache
    from recsys_platform.gateway.routing import TenantRoutes

    from tests.integration.event_path import Platform as Db
    from tests.integration.event_path import sqlite_url

    db = Db(sqlite_url(tmp_path), new_prefix(), [])
    db.onboard("reused")
    CatalogService(db.sessions, db.sessions.kw["bind"]).upsert(
        "reused", [{"item_id": "old-owner-item", "title": "Old news", "category": "world"}]
    )
    cache = FallbackCache(db.sessions, None, lambda t: TenantRoutes(), size=10, refresh_seconds=0.0)  # type: ignore[arg-type]

    async def run() -> tuple[list[str], list[str]]:
        before = [i.item_id for i in (await cache.refresh("reused")).items]
        db.tenants.delete("reused")
        db.onboard("reused")
        after = [i.item_id for i in (await cache.refresh("reused")).items]
        return before, after

    before, after = asyncio.run(run())
    assert before == ["old-owner-item"]
    assert after == [], "the re-created tenant is served the previous owner's items"
