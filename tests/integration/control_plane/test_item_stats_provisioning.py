"""Purging a tenant deletes its streaming item state (real Redis), and nothing of another tenant."""

from __future__ import annotations

import time
import uuid

from recsys_model_servers.features import StreamSignalReader
from recsys_platform.provisioning.item_stats import ItemStatsProvisioner
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.streaming.redis_store import RedisItemStats

from tests.conftest import ADMIN_TOKEN, AppFactory

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_purged_tenant_leaves_no_item_state_and_a_new_owner_of_its_id_starts_empty(
    make_client: AppFactory, redis_url: str
) -> None:
    stats = RedisItemStats(redis_url, key_prefix=f"test-{uuid.uuid4().hex[:8]}")
    provisioner = ItemStatsProvisioner(stats)  # the real Redis adapter, under a test-only key prefix
    try:
        with make_client(provisioners=[provisioner]) as c:
            for tenant in ("old-news", "old-news-2"):
                body = {"id": tenant, "display_name": tenant, "use_case": "news"}
                assert c.post("/v1/tenants", json=body, headers=AUTH).status_code == 201
                stats.apply(tenant, [ItemEvent(f"{tenant}-e1", "u1", "a1", 1_700_000_000_000, "s1")])
            assert c.delete("/v1/tenants/old-news", headers=AUTH).status_code in (200, 202)
            assert c.get("/v1/tenants/old-news", headers=AUTH).status_code == 404
        assert stats.watermark("old-news") is None
        assert stats.signals("old-news", ["a1"]).trending[900] == {}
        assert stats.watermark("old-news-2") == 1_700_000_000_000  # a prefix-sharing id is untouched
    finally:
        stats.delete_tenant("old-news-2")
        stats.close()


def test_a_catalog_import_makes_new_items_fresh_candidates_at_once(
    make_client: AppFactory, redis_url: str
) -> None:
    stats = RedisItemStats(redis_url, key_prefix=f"test-{uuid.uuid4().hex[:8]}")
    try:
        with make_client(provisioners=[ItemStatsProvisioner(stats)]) as c:
            body = {"id": "fresh-news", "display_name": "Fresh", "use_case": "news"}
            assert c.post("/v1/tenants", json=body, headers=AUTH).status_code == 201
            items = [
                {"item_id": "a1", "title": "Old", "published_at": "2026-12-01T10:00:00Z"},
                {"item_id": "a2", "title": "New"},  # no publish time: the import time
                {"item_id": "", "title": "rejected"},
            ]
            started = time.time()
            r = c.post("/v1/tenants/fresh-news/catalog/items", json={"items": items}, headers=AUTH)
            assert r.status_code == 200 and r.json()["created"] == 2 and r.json()["rejected"] == 1
            fresh = dict(stats.fresh("fresh-news", 10))
            assert fresh["a1"] == 1_796_119_200_000
            assert started * 1000 - 1000 <= fresh["a2"] <= time.time() * 1000 + 1000
            # an update is not news: its publish time is not moved
            again = [{"item_id": "a1", "title": "Old, edited", "published_at": "2026-12-08T10:00:00Z"}]
            c.post("/v1/tenants/fresh-news/catalog/items", json={"items": again}, headers=AUTH)
            assert dict(stats.fresh("fresh-news", 10))["a1"] == 1_796_119_200_000
            signals = StreamSignalReader(stats, "fresh-news").read([], "u:x", 10, want=["fresh"])
            assert signals is not None and list(signals.fresh)[:1] == ["a2"]  # the newest scores 1
            assert stats.fresh("other-tenant", 10) == []
    finally:
        stats.delete_tenant("fresh-news")
        stats.close()
