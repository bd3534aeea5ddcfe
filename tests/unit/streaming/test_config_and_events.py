"""Config, event and settings validation: a typo or a bad event is an error, never a silent default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from recsys_platform.errors import InvalidInput
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.streaming.memory import MemoryItemStats
from recsys_platform.streaming.settings import StreamingStoreSettings, build_item_stats
from recsys_platform.streaming.sqlite_store import SqliteItemStats
from recsys_platform.streaming.state import check_tenant


def test_windows_must_be_whole_buckets() -> None:
    assert StreamingConfig().window_buckets == ((900, 15), (3600, 60), (21600, 360))
    with pytest.raises(ValidationError, match="multiple of bucket_s"):
        StreamingConfig(trending_windows_s=(90,), bucket_s=60)
    with pytest.raises(ValidationError, match="duplicate"):
        StreamingConfig(trending_windows_s=(60, 60))
    with pytest.raises(ValidationError):
        StreamingConfig(covis_topk=5)  # type: ignore[call-arg]


def test_events_are_validated_when_built() -> None:
    event = ItemEvent("e1", "u1", "i1", 1_000)
    assert event.session_key == "u:u1"
    assert ItemEvent("e1", "u1", "i1", 1_000, session_id="s").session_key == "s"
    with pytest.raises(ValueError, match="item_id"):
        ItemEvent("e1", "u1", "", 1_000)
    with pytest.raises(ValueError, match="timestamp_ms"):
        ItemEvent("e1", "u1", "i1", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        ItemEvent("e1", "u1", "i1", 1, weight=float("nan"))


def test_tenant_ids_are_dns_labels() -> None:
    check_tenant("shop-2")
    for bad in ("Shop", "shop}", "a", "shop:x", ""):
        with pytest.raises(InvalidInput):
            check_tenant(bad)


def test_settings_pick_the_adapter(tmp_path: Path) -> None:
    memory = build_item_stats(StreamingStoreSettings(backend="memory"))
    assert isinstance(memory, MemoryItemStats)
    sqlite = build_item_stats(StreamingStoreSettings(backend="sqlite", sqlite_path=tmp_path / "s.db"))
    assert isinstance(sqlite, SqliteItemStats)
    sqlite.close()
    with pytest.raises(ValidationError, match="redis_url"):
        StreamingStoreSettings(backend="redis")
    with pytest.raises(ValidationError):
        StreamingStoreSettings(backend="memory", confg={})  # type: ignore[call-arg]
    custom = StreamingStoreSettings.model_validate({"backend": "memory", "config": {"covis_top_k": 7}})
    assert custom.config.covis_top_k == 7
