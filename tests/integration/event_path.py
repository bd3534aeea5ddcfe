"""Builders shared by the event-path tests: a platform database with onboarded tenants,
event logs of each kind, gateway clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory
from recsys_platform.events.log import EventLog
from recsys_platform.gateway.app import create_app as create_gateway
from recsys_platform.provisioning.ports import Provisioner
from recsys_platform.settings import GatewaySettings, KafkaSettings
from recsys_platform.tenancy.keys import ApiKeyService
from recsys_platform.tenancy.schemas import ApiKeyCreate, Quotas, TenantCreate
from recsys_platform.tenancy.service import TenantService


@dataclass
class Platform:
    """A control-plane database with tenants, as the gateway and processor see it."""

    url: str
    topic_prefix: str
    provisioners: Sequence[Provisioner]

    def __post_init__(self) -> None:
        engine = build_engine(self.url)
        migrate.upgrade(engine)
        self.sessions = session_factory(engine)
        self.tenants = TenantService(self.sessions, self.provisioners)
        self.keys = ApiKeyService(self.sessions)

    def onboard(self, tenant_id: str, use_case: str = "news", **quotas: int) -> None:
        self.tenants.create(
            TenantCreate(
                id=tenant_id,
                display_name=tenant_id,
                use_case=use_case,  # type: ignore[arg-type]
                quotas=Quotas(**quotas),
            )
        )

    def key(self, tenant_id: str, *scopes: str) -> str:
        spec = ApiKeyCreate(name="test", scopes=list(scopes))  # type: ignore[arg-type]
        return self.keys.create(tenant_id, spec).key

    def topic(self, tenant_id: str, kind: str = "events") -> str:
        return f"{self.topic_prefix}.{tenant_id}.{kind}"


def new_prefix() -> str:
    return f"r{uuid.uuid4().hex[:8]}"


def kafka_settings(bootstrap: str, prefix: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=2)


@contextmanager
def gateway_client(platform: Platform, event_log: EventLog, **overrides: Any) -> Iterator[TestClient]:
    settings = GatewaySettings(
        database={"url": platform.url},
        event_log={"kafka": {"topic_prefix": platform.topic_prefix}},
        key_cache_seconds=0.5,
        **overrides,
    )
    with TestClient(create_gateway(settings, event_log=event_log), raise_server_exceptions=False) as c:
        yield c


def event(n: int | str, user: str = "u1", item: str = "n0001", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"e-{n}",
        "user_id": user,
        "item_id": item,
        "type": "click",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    body.update(fields)
    return body


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sqlite_url(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'platform.db'}"
