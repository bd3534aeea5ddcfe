"""Typed settings of the streaming item-state store and the factory that picks the adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.ports import ItemStatsStore


class StreamingStoreSettings(BaseModel):
    """Where the streaming item state lives, and its engine-neutral definition."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["memory", "redis", "sqlite"] = "sqlite"
    """``redis`` (Kubernetes), ``sqlite`` (embedded, cross-process) or ``memory`` (one process, offline)."""
    redis_url: str | None = None
    """``redis://[user:password@]host:port/db`` (``rediss://`` for TLS); required for ``redis``."""
    redis_key_prefix: str = "recsys:stream"
    """Prefix of the Redis keys (``<prefix>:{<tenant>}:...``)."""
    sqlite_path: Path = Path("var/streaming/item_stats.db")
    """The SQLite file shared by the stream processor (writer) and model servers (readers)."""
    config: StreamingConfig = Field(default_factory=StreamingConfig)
    """Windows, caps, V-SkNN parameters and memory bounds."""

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StreamingStoreSettings:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("redis_url is required when backend is 'redis'")
        return self


def build_item_stats(settings: StreamingStoreSettings) -> ItemStatsStore:
    """Build the adapter the settings name."""
    if settings.backend == "redis":
        from recsys_platform.streaming.redis_store import RedisItemStats

        assert settings.redis_url is not None  # checked by the validator
        return RedisItemStats(settings.redis_url, settings.config, key_prefix=settings.redis_key_prefix)
    if settings.backend == "sqlite":
        from recsys_platform.streaming.sqlite_store import SqliteItemStats

        return SqliteItemStats(settings.sqlite_path, settings.config)
    from recsys_platform.streaming.memory import MemoryItemStats

    return MemoryItemStats(settings.config)
