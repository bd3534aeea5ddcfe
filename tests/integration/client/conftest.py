"""A live control plane and gateway over real HTTP, sharing one SQLite platform database and
an embedded event log: what ``recsys up`` runs, on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from recsys_platform.control_plane.app import create_app as create_control_plane
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.gateway.app import create_app as create_gateway
from recsys_platform.provisioning.ports import ResourceRef, TenantContext
from recsys_platform.settings import ControlPlaneSettings, GatewaySettings

from tests.factories import ADMIN_TOKEN
from tests.live_server import serve

PREFIX = "rc"


class LogTopics:
    """Provisions a tenant's topics in the embedded log (what onboarding does for Kafka)."""

    name = "event_log"

    def __init__(self, log: SqliteEventLog) -> None:
        self.log = log

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        names = [f"{PREFIX}.{tenant.tenant_id}.{k}" for k in ("events", "impressions", "dead-letter")]
        self.log.ensure_topics(names)
        return [ResourceRef("log_topic", n) for n in names]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        pass

    def check(self) -> None:
        pass


@dataclass
class Live:
    control_plane: str
    gateway: str
    log: SqliteEventLog
    database_url: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{tmp / 'platform.db'}"
    log = SqliteEventLog(tmp / "events.db")
    cp_settings = ControlPlaneSettings(
        admin_token=ADMIN_TOKEN, database={"url": url}, training={"enabled": False}
    )
    gw_settings = GatewaySettings(
        database={"url": url}, event_log={"kafka": {"topic_prefix": PREFIX}}, key_cache_seconds=0.5
    )
    with serve(create_control_plane(cp_settings, provisioners=[LogTopics(log)])) as cp:
        with serve(create_gateway(gw_settings, event_log=log)) as gw:
            yield Live(cp, gw, log, url)
    log.close()
