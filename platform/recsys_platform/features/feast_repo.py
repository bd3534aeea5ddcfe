"""The per-tenant Feast repository, generated in code (no ``feature_store.yaml``).

Every tenant is one Feast project. ``import feast`` costs several seconds, so it
happens inside the functions here, never at import time.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from recsys_platform.errors import NotFound
from recsys_platform.features.settings import FeatureStoreSettings

log = logging.getLogger(__name__)

PUSH_SOURCE = "user_realtime_push"
USER_REALTIME = "user_realtime"
ITEM_CATALOG = "item_catalog"
USER_ACTIVITY = "user_activity"
TIMESTAMP_FIELD = "event_timestamp"
#: Project names start with a character a tenant id never contains, so no project name
#: is a suffix of another: Feast's Redis store deletes a project's rows by the key
#: pattern ``<entity prefix>*<project>``, which would also match project ``big_shop``
#: when tearing down project ``shop``.
PROJECT_PREFIX = "T_"
REDIS_TIMEOUT_S = 5


def project_name(tenant_id: str) -> str:
    """The Feast project of a tenant: ``T_`` + the tenant id with ``-`` mapped to ``_``.

    Tenant ids are lowercase DNS labels, so the mapping is one-to-one and the
    result is valid for every online store (SQLite rejects ``-``).
    """
    if not tenant_id or not all(c.islower() or c.isdigit() or c == "-" for c in tenant_id):
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    return PROJECT_PREFIX + tenant_id.replace("-", "_")


def tenant_features_dir(settings: FeatureStoreSettings, tenant_id: str) -> Path:
    """Folder of the tenant's batch feature Parquet files: ``<offline_root>/features/tenant=<id>``."""
    return settings.offline_root / "features" / f"tenant={tenant_id}"


def registry_file(settings: FeatureStoreSettings, tenant_id: str) -> Path:
    """The tenant's file registry (used unless ``settings.registry_url`` is set)."""
    return settings.registry / f"{project_name(tenant_id)}.pb"


def redis_connection_string(url: str) -> str:
    """Feast's ``host:port,db=N,...`` form of a ``redis://`` or ``rediss://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("redis_url must look like redis://host:port/db")
    options = [f"{parts.hostname}:{parts.port or 6379}", f"db={int(parts.path.strip('/') or 0)}"]
    if parts.username:
        options.append(f"username={unquote(parts.username)}")
    if parts.password:
        options.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        options.append("ssl=true")
    options += [f"socket_timeout={REDIS_TIMEOUT_S}", f"socket_connect_timeout={REDIS_TIMEOUT_S}"]
    return ",".join(options)


def repo_config(settings: FeatureStoreSettings, tenant_id: str) -> Any:
    """The tenant's ``feast.RepoConfig``: local provider, Dask file offline store, online store, registry."""
    from feast.repo_config import RepoConfig

    project = project_name(tenant_id)
    online: dict[str, Any]
    if settings.online_store == "redis":
        assert settings.redis_url is not None  # checked by the settings validator
        online = {
            "type": "redis",
            "connection_string": redis_connection_string(settings.redis_url),
            "key_ttl_seconds": settings.user_ttl_days * 86400,
            # Every write replaces the row; the store's own "is it newer" check costs a
            # round trip and drops writes whose timestamp is not newer.
            "skip_dedup": True,
        }
    else:
        online = {"type": "sqlite", "path": str(settings.sqlite_dir / f"{project}.db")}
    if settings.registry_url:
        registry: dict[str, Any] = {
            "registry_type": "sql",
            "path": settings.registry_url,
            "cache_ttl_seconds": settings.registry_cache_ttl_seconds,
            # One registry (and engine) per tenant store: keep each pool small.
            "sqlalchemy_config_kwargs": {"pool_size": 1, "max_overflow": 2, "pool_pre_ping": True},
        }
    else:
        registry = {
            "registry_type": "file",
            "path": str(registry_file(settings, tenant_id)),
            "cache_ttl_seconds": settings.registry_cache_ttl_seconds,
        }
    return RepoConfig(
        project=project,
        provider="local",
        registry=registry,
        online_store=online,
        offline_store={"type": "dask"},
        entity_key_serialization_version=3,
    )


def repo_objects(settings: FeatureStoreSettings, tenant_id: str, use_case: str) -> list[Any]:
    """Entities, sources and feature views of a tenant, with explicit schemas throughout.

    Every source names its timestamp field and every view declares its fields
    (entity columns included), so ``apply`` infers nothing from Parquet files
    that may not exist yet.
    """
    from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
    from feast.types import Array, Float32, Int64, String

    tags = {"tenant": tenant_id, "use_case": use_case}
    folder = tenant_features_dir(settings, tenant_id)
    ttl = timedelta(days=settings.user_ttl_days)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, tags=tags)
    item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING, tags=tags)

    def file_source(name: str) -> Any:
        return FileSource(name=name, path=str(folder / f"{name}.parquet"), timestamp_field=TIMESTAMP_FIELD)

    push = PushSource(name=PUSH_SOURCE, batch_source=file_source("user_realtime_log"), tags=tags)
    realtime = FeatureView(
        name=USER_REALTIME,
        entities=[user],
        source=push,
        ttl=ttl,
        online=True,
        schema=[
            Field(name="user_id", dtype=String),
            Field(name="recent_items", dtype=Array(String)),
            Field(name="recent_weights", dtype=Array(Float32)),
            Field(name="recent_times_ms", dtype=Array(Int64)),
            Field(name="session_id", dtype=String),
            Field(name="session_clicks", dtype=Int64),
            Field(name="session_items", dtype=Array(String)),
            Field(name="category_affinity", dtype=String),
            Field(name="last_event_ms", dtype=Int64),
            Field(name="event_count", dtype=Int64),
            Field(name="applied_event_ids", dtype=Array(String)),
        ],
        description="A user's real-time state (recsys_platform.features.state.UserState).",
        tags=tags,
    )
    item_catalog = FeatureView(
        name=ITEM_CATALOG,
        entities=[item],
        source=file_source(ITEM_CATALOG),
        ttl=timedelta(0),
        online=False,
        schema=[
            Field(name="item_id", dtype=String),
            Field(name="category", dtype=String),
            Field(name="text_length", dtype=Int64),
            Field(name="published_at_ms", dtype=Int64),
        ],
        description="Catalog attributes for training (age = event time - published_at_ms).",
        tags=tags,
    )
    user_activity = FeatureView(
        name=USER_ACTIVITY,
        entities=[user],
        source=file_source(USER_ACTIVITY),
        ttl=ttl,
        online=False,
        schema=[
            Field(name="user_id", dtype=String),
            Field(name="event_count_7d", dtype=Int64),
            Field(name="click_count_7d", dtype=Int64),
            Field(name="last_event_ms", dtype=Int64),
        ],
        description="Daily user aggregates computed from the event log, for training.",
        tags=tags,
    )
    return [user, item, push, realtime, item_catalog, user_activity]


class FeastStores:
    """One cached ``feast.FeatureStore`` per tenant (building one loads the registry).

    Share one instance between the provisioner and the user feature store of a
    process, so tearing a tenant down also drops the store the readers hold.
    """

    def __init__(self, settings: FeatureStoreSettings) -> None:
        self.settings = settings
        self._stores: dict[str, Any] = {}
        self._files: dict[str, int] = {}  # a descriptor of each tenant's SQLite online-store file
        self._lock = threading.Lock()
        #: Held around every use of a store when its SQLite connection is shared by threads.
        self.online_lock: threading.RLock | None = (
            threading.RLock() if settings.online_store == "sqlite" else None
        )

    def get(self, tenant_id: str, *, create: bool = True) -> Any:
        """The tenant's ``FeatureStore`` (built on first use; ``apply`` is the provisioner's job).

        Raises:
            NotFound: ``create`` is false and the tenant has no file registry
                (building the store would leave an empty one behind).
        """
        store = self._stores.get(tenant_id)
        if store is not None and self.online_lock is not None and self._replaced(tenant_id):
            self.evict(tenant_id)
            store = None
        if store is not None:
            return store
        if (
            not create
            and not self.settings.registry_url
            and not registry_file(self.settings, tenant_id).exists()
        ):
            raise NotFound(f"tenant {tenant_id!r} has no Feast project (not provisioned, or removed)")
        with self._lock:
            store = self._stores.get(tenant_id)
            if store is None:
                from feast import FeatureStore

                self.settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
                if not self.settings.registry_url:
                    self.settings.registry.mkdir(parents=True, exist_ok=True)
                store = FeatureStore(config=repo_config(self.settings, tenant_id))
                if self.online_lock is not None:
                    self._hold_file(tenant_id)
                self._stores[tenant_id] = store
            return store

    def _replaced(self, tenant_id: str) -> bool:
        """Whether the tenant's SQLite online-store file was deleted since the cached store
        opened it (the tenant was purged, maybe onboarded again, by another process): a
        connection to a deleted file reads the old owner's rows and fails writes as a
        "readonly database". A descriptor of the file is held, so one ``fstat`` tells (and
        the inode cannot be reused by the new file meanwhile)."""
        fd = self._files.get(tenant_id)
        if fd is None:
            try:
                self._files[tenant_id] = os.open(
                    self.settings.sqlite_dir / f"{project_name(tenant_id)}.db", os.O_RDONLY
                )
            except FileNotFoundError:
                pass  # not created yet: Feast creates it on first use
            return False
        return os.fstat(fd).st_nlink == 0

    def _hold_file(self, tenant_id: str) -> None:
        """Create the tenant's SQLite file if needed and hold a descriptor of it *before* the new
        store connects, so ``_replaced`` knows the inode this store uses from its first write (a
        store used once, then purged, would otherwise go on writing into the deleted file)."""
        import sqlite3

        path = self.settings.sqlite_dir / f"{project_name(tenant_id)}.db"
        sqlite3.connect(path).close()  # an empty file is a valid database; Feast opens the same one
        self._forget_file(tenant_id)
        self._files[tenant_id] = os.open(path, os.O_RDONLY)

    def _forget_file(self, tenant_id: str) -> None:
        fd = self._files.pop(tenant_id, None)
        if fd is not None:
            os.close(fd)

    def evict(self, tenant_id: str) -> None:
        """Forget the tenant's store and close its online-store connection."""
        with self._lock:
            store = self._stores.pop(tenant_id, None)
            self._forget_file(tenant_id)
        if store is not None:
            _release(store)

    def close(self) -> None:
        """Close every cached store."""
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
            for tenant_id in list(self._files):
                self._forget_file(tenant_id)
        for store in stores:
            _release(store)


def _release(store: Any) -> None:
    """Close the online store's client and a SQL registry's engines.

    Feast's own ``FeatureStore.close()`` is async and closes neither for these stores.
    """
    online = store.provider.online_store
    registry = getattr(store, "_registry", None)  # None if never used; the property would build one
    closers = [getattr(online, "_conn", None), getattr(online, "_client", None)]
    closers += [getattr(registry, "write_engine", None), getattr(registry, "read_engine", None)]
    for resource in closers:
        if resource is None:
            continue
        try:
            if hasattr(resource, "dispose"):  # a SQLAlchemy engine
                resource.dispose()
            else:
                resource.close()
        except Exception:  # closing a broken client must not mask the caller's error
            log.debug("closing a feast client failed", exc_info=True)
    for attr in ("_conn", "_client"):
        if getattr(online, attr, None) is not None:
            setattr(online, attr, None)


def ping_online_store(settings: FeatureStoreSettings) -> None:
    """Redis ``PING``, or check that the SQLite folder is writable; raise if not."""
    if settings.online_store == "redis":
        import redis

        assert settings.redis_url is not None  # checked by the settings validator
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    settings.sqlite_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=settings.sqlite_dir):
        pass
