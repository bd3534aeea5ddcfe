"""Settings of the Feast feature store (one Feast project per tenant)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FeatureStoreSettings(BaseModel):
    """Feast: online store for users' real-time state, registry, offline Parquet files.

    Each tenant is its own Feast project. Embedded mode uses a SQLite file per
    tenant and file registries; Kubernetes uses Redis and a SQL registry in
    PostgreSQL shared by all tenants (rows are keyed by project).
    """

    model_config = ConfigDict(extra="forbid")

    online_store: Literal["redis", "sqlite"] = "sqlite"
    """Where the online rows live: ``redis`` (Kubernetes) or ``sqlite`` (embedded, one process)."""
    redis_url: str | None = None
    """``redis://[user:password@]host:port/db`` (``rediss://`` for TLS); required for ``redis``."""
    sqlite_dir: Path = Path("var/feast/online")
    """Folder of the SQLite online stores, one ``<project>.db`` file per tenant."""
    registry: Path = Path("var/feast/registry")
    """Folder of the file registries, one ``<project>.pb`` file per tenant (unless ``registry_url``)."""
    registry_url: str | None = None
    """SQLAlchemy URL of a SQL registry (``postgresql+psycopg://...``); replaces the files when set."""
    registry_cache_ttl_seconds: int = Field(default=60, ge=0)
    """How long a process trusts its cached registry; ``0`` never refreshes on a timer.

    Objects only change when a tenant is provisioned, and an unknown object
    triggers a refresh anyway. A SQL registry refresh loads every tenant's
    project (feast 0.67), so its cost grows with the number of tenants.
    """
    offline_root: Path = Path("var/offline")
    """Parquet root: events in ``tenant=<id>/date=<YYYY-MM-DD>/``, batch features in ``features/``."""
    user_ttl_days: int = Field(default=30, ge=1, le=3650)
    """Redis drops a user's row this long after its last write; also the feature views' TTL.

    SQLite rows stay until the tenant is removed (Feast reads do not enforce the TTL).
    """

    history_items: int = Field(default=1000, ge=1, le=100_000)
    """Items of each user's interaction history kept in the online row (item, summed weight,
    last event time; most recent first). Serving scores from and excludes exactly these, so
    keep it above the longest histories the tenant's model should see (its ``max_history``)."""

    @model_validator(mode="after")
    def _redis_needs_url(self) -> FeatureStoreSettings:
        if self.online_store == "redis" and not self.redis_url:
            raise ValueError("redis_url is required when online_store is 'redis'")
        return self
