"""``recsys-client`` against a live control plane and gateway (real HTTP, uvicorn)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from recsys_client import (
    NO_RETRIES,
    AsyncControlPlaneClient,
    AsyncGatewayClient,
    Conflict,
    ConnectionFailed,
    ControlPlaneClient,
    Forbidden,
    GatewayClient,
    InvalidInput,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServiceUnavailable,
    Unauthenticated,
    make_event,
)
from recsys_platform.events.kafka_log import KafkaEventLog

from tests.factories import ADMIN_TOKEN
from tests.integration.client.conftest import PREFIX, Live
from tests.integration.event_path import Platform, gateway_client, new_prefix

pytestmark = pytest.mark.integration


def _tenant(cp: ControlPlaneClient, **quotas: int) -> str:
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    cp.create_tenant(tenant_id, use_case="ecommerce", quotas=quotas or None)
    return tenant_id


def _items(n: int) -> list[dict[str, Any]]:
    return [{"item_id": f"sku-{i:03d}", "title": f"Item {i}", "category": "shoes"} for i in range(n)]


def _logged(live: Live, tenant_id: str) -> int:
    consumer = live.log.consumer(
        f"g-{uuid.uuid4().hex}", "^" + re.escape(f"{PREFIX}.{tenant_id}.events") + "$"
    )
    count = 0
    while batch := consumer.poll(1000, 0.2):
        count += len(batch)
    consumer.close()
    return count


def test_onboard_import_send_and_recommend(live: Live) -> None:
    with ControlPlaneClient(live.control_plane, ADMIN_TOKEN) as cp:
        assert cp.whoami().kind == "platform_admin"
        tenant_id = _tenant(cp, events_per_second=10_000)
        with pytest.raises(Conflict) as conflict:
            cp.create_tenant(tenant_id, use_case="ecommerce")
        assert conflict.value.status == 409 and conflict.value.field_errors == {"id": "already exists"}
        assert tenant_id in [t.id for t in cp.list_tenants()]
        for _ in range(3):
            _tenant(cp)
        paged = [t.id for t in cp.list_tenants(page_size=2)]  # follows next_cursor
        assert paged == [t.id for t in cp.list_tenants()] and len(paged) >= 4 and tenant_id in paged

        items = _items(25)
        items.insert(12, {"item_id": "bad item"})  # rejected, the others kept
        result = cp.import_items(tenant_id, items, batch_size=10)
        assert (result.created, result.rejected) == (25, 1)
        assert [r.index for r in result.results] == list(range(26))
        assert result.results[12].status == "rejected" and result.results[12].errors
        paged = [i.item_id for i in cp.iter_items(tenant_id, page_size=7)]
        assert sorted(paged) == sorted(i["item_id"] for i in _items(25))
        assert cp.get_item(tenant_id, "sku-003").attributes["title"] == "Item 3"
        cp.delete_item(tenant_id, "sku-003")
        with pytest.raises(NotFound):
            cp.get_item(tenant_id, "sku-003")

        key = cp.create_api_key(tenant_id, "app", ["events:write", "recommendations:read"])
        assert key.key and key.scopes == ["events:write", "recommendations:read"]

    with GatewayClient(live.gateway, key.key, batch_size=1000) as gw:
        events: list[Any] = [make_event(f"u{i % 50}", f"sku-{i % 25:03d}", "click") for i in range(2500)]
        events[1234] = {**events[1234].model_dump(mode="json"), "type": "teleport"}
        sent = gw.send_events(events)
        assert (sent.accepted, sent.rejected, sent.unavailable) == (2499, 1, 0)
        assert sent.results[1234].status == "rejected" and sent.results[1234].errors[0]["field"] == "type"
        assert sent.results[2499].index == 2499
        with gw.batcher(max_size=300) as batch:
            for i in range(700):
                batch.add(make_event("u-batch", f"sku-{i % 25:03d}", "view"))
        assert batch.result.accepted == 700
        assert gw.track("u1", "sku-001", "rating", value=4.5).status == "accepted"
        assert _logged(live, tenant_id) == 2499 + 700 + 1

        listed = gw.recommend("u1", n=5, filters={"exclude_items": ["sku-000"]})
        assert len(listed.items) <= 5 and listed.fallback and listed.recommendation_id
        assert "sku-000" not in [i.item_id for i in listed.items]
        reranked = gw.rerank("u1", ["sku-010", "sku-011", "sku-012"], n=2)
        assert [i.item_id for i in reranked.items] == ["sku-010", "sku-011"]
        assert gw.similar_items("sku-001", n=3).fallback is True
        lists = gw.recommend_batch([{"user_id": "u1", "n": 2}, {"user_id": "u2", "n": 4}])
        assert len(lists) == 2 and len(lists[0].items) <= 2 and len(lists[1].items) <= 4
        with pytest.raises(InvalidInput) as invalid:
            gw.recommend("u1", n=0)
        assert set(invalid.value.field_errors) == {"n"}

    with GatewayClient(live.gateway, "rk_not-a-key") as gw, pytest.raises(Unauthenticated) as denied:
        gw.recommend("u1")
    assert denied.value.problem.status == 401 and "authorization" in denied.value.field_errors
    with ControlPlaneClient(live.control_plane, key.key) as as_tenant, pytest.raises(Forbidden):
        as_tenant.list_tenants()


def test_429_is_retried_after_the_retry_after_it_names(live: Live) -> None:
    with ControlPlaneClient(live.control_plane, ADMIN_TOKEN) as cp:
        tenant_id = _tenant(cp, requests_per_second=1)
        key = cp.create_api_key(tenant_id, "app", ["recommendations:read"]).key
    with GatewayClient(live.gateway, key, retry=NO_RETRIES) as impatient:
        impatient.recommend("u1")
        with pytest.raises(RateLimited) as limited:
            impatient.recommend("u1")
    wait = float(limited.value.headers["retry-after"])
    assert 0 < wait <= 2
    with GatewayClient(live.gateway, key, retry=RetryPolicy(max_attempts=5)) as patient:
        started = time.monotonic()
        answers = [patient.recommend("u1") for _ in range(3)]
        elapsed = time.monotonic() - started
    assert len(answers) == 3
    assert elapsed >= 1.5  # three requests at 1/s: the client waited as told, not failed


def test_503_is_retried_and_then_raised_with_the_per_event_results(tmp_path: Any) -> None:
    platform = Platform(f"sqlite:///{tmp_path / 'p.db'}", new_prefix(), [])
    platform.onboard("tenant-a")
    key = platform.key("tenant-a", "events:write")
    dead = KafkaEventLog("127.0.0.1:1")
    attempts = []
    with gateway_client(platform, dead, append_timeout_seconds=0.5) as http:
        http.event_hooks["response"].append(lambda r: attempts.append(r.status_code))
        gw = GatewayClient(
            "http://testserver", key, http=http, retry=RetryPolicy(max_attempts=3, backoff=0.01)
        )
        with pytest.raises(ServiceUnavailable) as unavailable:
            gw.send_events([make_event("u1", "i1", "click")])
    dead.close()
    assert attempts == [503, 503, 503]
    problem = unavailable.value.problem
    assert problem.status == 503 and (problem.model_extra or {})["unavailable"] == 1


def test_connection_errors_name_the_url_and_the_fix() -> None:
    quick = RetryPolicy(max_attempts=2, backoff=0.01)
    with ControlPlaneClient("http://127.0.0.1:1", ADMIN_TOKEN, retry=quick) as cp:
        with pytest.raises(ConnectionFailed) as failed:
            cp.list_tenants()
    assert "http://127.0.0.1:1" in str(failed.value) and "recsys up" in str(failed.value)


def test_async_clients(live: Live) -> None:
    async def run() -> tuple[list[str], int, list[str]]:
        async with AsyncControlPlaneClient(live.control_plane, ADMIN_TOKEN) as cp:
            tenant_id = f"t-{uuid.uuid4().hex[:8]}"
            await cp.create_tenant(tenant_id, use_case="news")
            await cp.import_items(tenant_id, _items(12), batch_size=5)
            paged = [item.item_id async for item in cp.iter_items(tenant_id, page_size=5)]
            key = (await cp.create_api_key(tenant_id, "app", ["events:write", "recommendations:read"])).key
            with pytest.raises(NotFound):
                await cp.get_tenant("no-such-tenant")
        async with AsyncGatewayClient(live.gateway, key, batch_size=4) as gw:
            now = datetime.now(UTC)
            sent = await gw.send_events(
                make_event("u1", f"sku-{i:03d}", "click", timestamp=now) for i in range(10)
            )
            listed = await asyncio.gather(*(gw.recommend(f"u{i}", n=3) for i in range(3)))
            reranked = await gw.rerank("u1", ["sku-001", "sku-002"])
        return paged, sent.accepted, [i.item_id for i in reranked.items] + [str(len(listed))]

    paged, accepted, rest = asyncio.run(run())
    assert sorted(paged) == sorted(i["item_id"] for i in _items(12))
    assert accepted == 10
    assert rest == ["sku-001", "sku-002", "3"]
