"""Purging a tenant deletes its streaming item state (real Redis), and nothing of another tenant."""

from __future__ import annotations

import uuid

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
