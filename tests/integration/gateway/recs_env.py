"""A platform with tenants, deployments backed by real KServe processes, and a gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import SpanProcessor
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import Deployment
from recsys_platform.events.log import EventLog
from recsys_platform.experiments.schemas import ExperimentCreate
from recsys_platform.experiments.service import ExperimentService
from recsys_platform.gateway.app import create_app as create_gateway
from recsys_platform.settings import GatewaySettings

from tests.integration.event_path import Platform


def add_deployment(
    platform: Platform, tenant_id: str, name: str, endpoint: str, status: str = "ready"
) -> None:
    """What the deployer writes once a model server is ready."""
    with transaction(platform.sessions) as s:
        s.add(
            Deployment(
                id=uuid.uuid4().hex,
                tenant_id=tenant_id,
                name=name,
                status=status,
                endpoint=endpoint,
                resolved_version="7",
                mode="local",
            )
        )


def run_experiment(platform: Platform, tenant_id: str, name: str, surface: str, **variants: str) -> str:
    """Create and start an equal-weight experiment; variants are name=deployment."""
    service = ExperimentService(platform.sessions)
    spec = ExperimentCreate(
        name=name,
        surface=surface,
        variants=[{"name": v, "deployment": d, "weight": 1} for v, d in variants.items()],
    )
    created = service.create(tenant_id, spec)
    service.start(tenant_id, name)
    return created.id


@contextmanager
def gateway(
    platform: Platform,
    log: EventLog,
    span_processors: list[SpanProcessor] | None = None,
    **overrides: Any,
) -> Iterator[TestClient]:
    settings = GatewaySettings(
        database={"url": platform.url},
        event_log={"kafka": {"topic_prefix": platform.topic_prefix}},
        key_cache_seconds=5,
        routing_cache_seconds=0.2,
        model_timeout_seconds=overrides.pop("model_timeout_seconds", 0.5),
        **overrides,
    )
    app = create_gateway(settings, event_log=log, span_processors=span_processors)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
