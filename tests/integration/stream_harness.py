"""A running event path for tests: platform DB, Kafka or SQLite log, Feast store, processor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from recsys_platform.events.log import EventLog
from recsys_platform.features.feast_repo import FeastStores
from recsys_platform.features.feast_store import FeastUserFeatureStore
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.features.state import UserState
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.provisioning.feast_project import FeastProvisioner
from recsys_platform.provisioning.ports import Provisioner
from recsys_platform.stream.directory import TenantDirectory
from recsys_platform.stream.metrics import StreamMetrics
from recsys_platform.stream.processor import StreamProcessor

from tests.integration.event_path import Platform, sqlite_url


@dataclass
class EventPath:
    platform: Platform
    log: EventLog
    features: FeastUserFeatureStore
    offline: OfflineEventStore
    registry: CollectorRegistry
    feature_settings: FeatureStoreSettings

    def processor(self, **kwargs: object) -> StreamProcessor:
        return StreamProcessor(
            self.log,
            self.features,
            self.offline,
            TenantDirectory(self.platform.sessions, ttl_seconds=1.0),
            StreamMetrics(CollectorRegistry()),
            topic_prefix=self.platform.topic_prefix,
            group_id=f"stream-{self.platform.topic_prefix}",
            poll_timeout_seconds=0.02,
            retry_backoff_max_seconds=0.5,
            **kwargs,  # type: ignore[arg-type]
        )

    @contextmanager
    def running(self, **kwargs: object) -> Iterator[StreamProcessor]:
        processor = self.processor(**kwargs)
        thread = threading.Thread(target=processor.run, daemon=True)
        thread.start()
        try:
            yield processor
        finally:
            processor.stop()
            thread.join(timeout=30)
            assert not thread.is_alive(), "processor did not stop"

    def wait_for(
        self, tenant: str, user: str, predicate: Callable[[UserState], bool], timeout: float = 20.0
    ) -> UserState:
        deadline = time.monotonic() + timeout
        state: UserState | None = None
        while time.monotonic() < deadline:
            state = self.features.read(tenant, user)
            if state is not None and predicate(state):
                return state
            time.sleep(0.02)
        raise AssertionError(f"features of {tenant}/{user} never matched; last: {state}")


def build_event_path(
    tmp: Path,
    log: EventLog,
    prefix: str,
    log_provisioner: Provisioner,
    redis_url: str | None,
) -> EventPath:
    fs = FeatureStoreSettings(
        online_store="redis" if redis_url else "sqlite",
        redis_url=redis_url,
        sqlite_dir=tmp / "feast-online",
        registry=tmp / "feast-registry",
        offline_root=tmp / "offline",
    )
    stores = FeastStores(fs)
    platform = Platform(sqlite_url(tmp), prefix, [log_provisioner, FeastProvisioner(fs, stores)])
    return EventPath(
        platform,
        log,
        FeastUserFeatureStore(fs, stores),
        OfflineEventStore(fs.offline_root),
        CollectorRegistry(),
        fs,
    )
