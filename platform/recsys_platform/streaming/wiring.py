"""The streaming item state lives beside the users' online rows: same Redis, or a SQLite file in
the same folder. So a deployable that knows its feature store knows its item state too, and
the stream processor (writer) and the model servers (readers) always meet in one place."""

from __future__ import annotations

from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.ports import ItemStatsStore
from recsys_platform.streaming.settings import StreamingStoreSettings, build_item_stats

#: Key prefix of the item state in the feature store's Redis (Feast's keys never start with it).
REDIS_KEY_PREFIX = "recsys:stream"
SQLITE_FILE = "item_stats.db"


def item_stats_settings(
    feature_store: FeatureStoreSettings, config: StreamingConfig | None = None
) -> StreamingStoreSettings:
    """Where the feature store's item state lives (Redis beside the user rows, or a SQLite file)."""
    if feature_store.online_store == "redis":
        return StreamingStoreSettings(
            backend="redis",
            redis_url=feature_store.redis_url,
            redis_key_prefix=REDIS_KEY_PREFIX,
            config=config or StreamingConfig(),
        )
    return StreamingStoreSettings(
        backend="sqlite",
        sqlite_path=feature_store.sqlite_dir / SQLITE_FILE,
        config=config or StreamingConfig(),
    )


def item_stats_for(feature_store: FeatureStoreSettings) -> ItemStatsStore:
    """The item-state adapter of a feature store."""
    return build_item_stats(item_stats_settings(feature_store))
