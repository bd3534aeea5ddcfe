"""Guardrails on the gateway's recommendation path: the fallback list (no deployment: the
catalog's newest items) goes through the tenant's rules, and each rule counts its changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from recsys_platform.catalog.schemas import CatalogField, CatalogSchema
from recsys_platform.catalog.service import CatalogService
from recsys_platform.db.engine import build_engine
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.guardrails.engine import group_share
from recsys_platform.guardrails.schemas import GuardrailSet
from recsys_platform.guardrails.service import GuardrailService
from recsys_platform.tenancy.schemas import Quotas, TenantCreate

from tests.integration.event_path import Platform, auth, new_prefix, sqlite_url
from tests.integration.gateway.recs_env import gateway

pytestmark = pytest.mark.integration
TENANT = "guard-vid"
NOW = datetime.now(UTC)


@pytest.fixture
def platform(tmp_path: pytest.TempPathFactory) -> Platform:
    p = Platform(sqlite_url(tmp_path), new_prefix(), [])  # type: ignore[arg-type]
    schema = CatalogSchema(
        fields=[
            CatalogField(name="title", type="text"),
            CatalogField(name="category", type="string"),
            CatalogField(name="provider", type="string"),
            CatalogField(name="rating", type="string"),
            CatalogField(name="published_at", type="timestamp"),
        ]
    )
    p.tenants.create(
        TenantCreate(id=TENANT, display_name=TENANT, use_case="video", catalog_schema=schema, quotas=Quotas())
    )
    catalog = CatalogService(p.sessions, build_engine(p.url))
    for k in range(12):  # one at a time: the fallback lists the newest import first (v11 .. v0)
        catalog.upsert(
            TENANT,
            [
                {
                    "item_id": f"v{k}",
                    "title": f"video {k}",
                    "category": "drama" if k % 3 else "comedy",
                    "provider": "indie" if k < 3 else "studio",
                    "rating": "adult" if k == 11 else "all",
                    "published_at": (NOW - timedelta(days=30)).isoformat(),
                }
            ],
        )
        time.sleep(0.01)
    return p


@pytest.fixture
def client(platform: Platform, kafka_bootstrap: str) -> Iterator[TestClient]:
    log = KafkaEventLog(kafka_bootstrap)
    try:
        with gateway(platform, log, bandit_refresh_seconds=0.2) as c:
            yield c
    finally:
        log.close()


def _items(client: TestClient, key: str, surface: str = "home") -> list[str]:
    r = client.post(
        "/v1/recommendations", json={"user_id": "u1", "n": 5, "surface": surface}, headers=auth(key)
    )
    assert r.status_code == 200, r.text
    assert r.json()["fallback"] is True
    return [i["item_id"] for i in r.json()["items"]]


def test_fallback_lists_go_through_the_surfaces_guardrails(platform: Platform, client: TestClient) -> None:
    key = platform.key(TENANT, "recommendations:read")
    plain = _items(client, key)
    assert plain == ["v11", "v10", "v9", "v8", "v7"]
    rules = GuardrailSet.model_validate(
        {
            "slate_size": 5,
            "rules": [
                {"type": "exclude", "where": [{"field": "rating", "value": "adult"}], "name": "no-adult"},
                {
                    "type": "fairness",
                    "field": "provider",
                    "group": "indie",
                    "floor": 0.25,
                    "name": "indie-floor",
                },
                {"type": "diversity", "field": "category", "max_share": 0.6, "name": "genre-mix"},
            ],
        }
    )
    GuardrailService(platform.sessions).put(TENANT, "home", rules)
    deadline = time.monotonic() + 10
    guarded = plain
    while guarded == plain and time.monotonic() < deadline:
        time.sleep(0.1)
        guarded = _items(client, key)
    assert "v11" not in guarded and len(guarded) == 5
    attrs = {f"v{k}": {"provider": "indie" if k < 3 else "studio"} for k in range(12)}
    assert group_share(guarded, lambda i: attrs[i]["provider"] == "indie", 5) >= 0.25
    assert _items(client, key, surface="other") == plain  # another surface: no rules
    metrics = client.get("/metrics").text
    for rule in ("no-adult", "indie-floor"):
        line = next(
            ln
            for ln in metrics.splitlines()
            if ln.startswith("recsys_guardrail_changes_total") and f'rule="{rule}"' in ln and TENANT in ln
        )
        assert float(line.rsplit(" ", 1)[1]) >= 1
