"""The generated per-tenant Feast repository: names, schemas, config (no services needed)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from recsys_platform.features.feast_repo import (
    project_name,
    redis_connection_string,
    registry_file,
    repo_config,
    repo_objects,
)
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.features.state import UserState, state_to_row


@pytest.fixture
def settings(tmp_path: Path) -> FeatureStoreSettings:
    return FeatureStoreSettings(
        sqlite_dir=tmp_path / "online",
        registry=tmp_path / "registry",
        offline_root=tmp_path / "offline",
        user_ttl_days=14,
    )


def by_name(objects: list[Any]) -> dict[tuple[str, str], Any]:
    return {(type(o).__name__, o.name): o for o in objects}


def test_project_name_maps_hyphens_and_is_a_valid_feast_project() -> None:
    from feast.repo_operations import is_valid_name

    assert project_name("news-co") == "T_news_co"
    assert project_name("shop") == "T_shop"
    assert is_valid_name(project_name("a-1-b")) and "-" not in project_name("a-1-b")
    for bad in ("", "Shop", "shop_1", "shop.co"):
        with pytest.raises(ValueError):
            project_name(bad)


def test_no_project_name_is_a_suffix_of_another() -> None:
    # Feast's Redis store deletes a project's keys by the pattern "<entity prefix>*<project>".
    names = [project_name(t) for t in ("shop", "big-shop", "a-shop", "shop-2", "hop", "t-shop")]
    for a, b in itertools.permutations(names, 2):
        assert not b.endswith(a), (a, b)


def test_repo_objects_names_and_kinds(settings: FeatureStoreSettings) -> None:
    objects = by_name(repo_objects(settings, "news-co", "news"))
    assert set(objects) == {
        ("Entity", "user"),
        ("Entity", "item"),
        ("PushSource", "user_realtime_push"),
        ("FeatureView", "user_realtime"),
        ("FeatureView", "item_catalog"),
        ("FeatureView", "user_activity"),
    }
    assert objects["Entity", "user"].join_key == "user_id"
    assert objects["Entity", "item"].join_key == "item_id"
    for obj in objects.values():
        assert obj.tags == {"tenant": "news-co", "use_case": "news"}


def test_user_realtime_has_the_fields_of_a_state_row(settings: FeatureStoreSettings) -> None:
    from feast.types import Array, Float32, Int64, String

    view = by_name(repo_objects(settings, "news-co", "news"))["FeatureView", "user_realtime"]
    assert view.online and view.entities == ["user"]
    assert view.ttl == timedelta(days=14)
    assert view.stream_source.name == "user_realtime_push"
    features = {f.name: f.dtype for f in view.features}
    assert set(features) | {"user_id"} == set(state_to_row(UserState(user_id="u")))
    assert features == {
        "recent_items": Array(String),
        "recent_weights": Array(Float32),
        "recent_times_ms": Array(Int64),
        "session_id": String,
        "session_clicks": Int64,
        "session_items": Array(String),
        "category_affinity": String,
        "last_event_ms": Int64,
        "event_count": Int64,
        "applied_event_ids": Array(String),
    }
    assert {f.name: f.dtype for f in view.entity_columns} == {"user_id": String}


def test_batch_views_read_explicit_parquet_files_of_the_tenant(settings: FeatureStoreSettings) -> None:
    from feast.types import Int64, String

    objects = by_name(repo_objects(settings, "news-co", "news"))
    folder = settings.offline_root / "features" / "tenant=news-co"
    items, activity = objects["FeatureView", "item_catalog"], objects["FeatureView", "user_activity"]
    assert {f.name: f.dtype for f in items.features} == {
        "category": String,
        "text_length": Int64,
        "published_at_ms": Int64,
    }
    assert {f.name: f.dtype for f in activity.features} == {
        "event_count_7d": Int64,
        "click_count_7d": Int64,
        "last_event_ms": Int64,
    }
    for view, file in ((items, "item_catalog"), (activity, "user_activity")):
        assert view.batch_source.path == str(folder / f"{file}.parquet")
        assert view.batch_source.timestamp_field == "event_timestamp"
    push = objects["PushSource", "user_realtime_push"]
    assert push.batch_source.path == str(folder / "user_realtime_log.parquet")
    assert push.batch_source.timestamp_field == "event_timestamp"


def test_repo_config_sqlite_and_file_registry(settings: FeatureStoreSettings) -> None:
    config = repo_config(settings, "news-co")
    assert (config.project, config.provider) == ("T_news_co", "local")
    assert config.online_store.type == "sqlite"
    assert config.online_store.path == str(settings.sqlite_dir / "T_news_co.db")
    assert config.offline_store.type == "dask"
    assert config.registry.registry_type == "file"
    assert config.registry.path == str(registry_file(settings, "news-co"))


def test_repo_config_redis_and_sql_registry(settings: FeatureStoreSettings) -> None:
    redis = settings.model_copy(
        update={
            "online_store": "redis",
            "redis_url": "redis://cache:6380/2",
            "registry_url": "postgresql+psycopg://u:p@db/feast",
        }
    )
    config = repo_config(redis, "news-co")
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string.startswith("cache:6380,db=2,")
    assert config.online_store.key_ttl_seconds == 14 * 86400
    assert config.online_store.skip_dedup is True
    assert config.registry.registry_type == "sql"
    assert config.registry.path == "postgresql+psycopg://u:p@db/feast"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", "localhost:6379,db=0"),
        ("redis://r:1/3", "r:1,db=3"),
        ("rediss://user:p%40ss@r:1/0", "r:1,db=0,username=user,password=p@ss,ssl=true"),
        ("redis://:secret@r:1", "r:1,db=0,password=secret"),
    ],
)
def test_redis_connection_string(url: str, expected: str) -> None:
    assert redis_connection_string(url) == expected + ",socket_timeout=5,socket_connect_timeout=5"


def test_redis_connection_string_rejects_other_urls() -> None:
    with pytest.raises(ValueError):
        redis_connection_string("http://r:1")


def test_settings_require_a_redis_url_for_redis() -> None:
    with pytest.raises(ValidationError, match="redis_url"):
        FeatureStoreSettings(online_store="redis")
    with pytest.raises(ValidationError):
        FeatureStoreSettings(unknown=1)  # type: ignore[call-arg]


def test_importing_the_modules_does_not_import_feast() -> None:
    code = (
        "import sys, recsys_platform.features.feast_store, recsys_platform.provisioning.feast_project;"
        "sys.exit('feast' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
