"""Feast adapter of the user feature store port: one ``user_realtime`` row per (tenant, user)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from recsys_platform.errors import DependencyUnavailable, NotFound
from recsys_platform.features.feast_repo import TIMESTAMP_FIELD, USER_REALTIME, FeastStores, ping_online_store
from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.features.state import UserState, row_to_state, state_to_row

T = TypeVar("T")
#: The push source's columns (``state_to_row`` keys), entity column first.
COLUMNS = (
    "user_id",
    "recent_items",
    "recent_weights",
    "recent_times_ms",
    "session_id",
    "session_clicks",
    "session_items",
    "category_affinity",
    "last_event_ms",
    "event_count",
    "applied_event_ids",
)
FEATURE_REFS = [f"{USER_REALTIME}:{c}" for c in COLUMNS[1:]]


class WriteClock:
    """Strictly increasing write timestamps in microseconds (what Feast stores), per process.

    A row's Feast timestamp is the time it was written, not the user's last
    event: online stores may drop a write whose timestamp is not newer than the
    stored one, while a state rebuilt from late events must still replace it.
    """

    def __init__(self) -> None:
        self._last_us = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> int:
        """First of ``n`` consecutive unused microsecond timestamps, each after every earlier one."""
        with self._lock:
            start = max(time.time_ns() // 1000, self._last_us + 1)
            self._last_us = start + n - 1
            return start


#: One clock per process, shared by every store instance.
_CLOCK = WriteClock()


class FeastUserFeatureStore:
    """Users' real-time state in each tenant's Feast project (Redis or SQLite online store).

    Writes use ``write_to_online_store("user_realtime", df)``, which is what
    ``push("user_realtime_push", df)`` does for its one view, minus listing and
    decoding every feature view of the registry on each call (half the cost of
    a one-row push). Reads use ``get_online_features``. Feast owns the keys and
    the value encoding. Pass the same ``stores`` as the process's
    ``FeastProvisioner`` so a torn-down tenant's cached store is dropped for both.
    """

    def __init__(self, settings: FeatureStoreSettings, stores: FeastStores | None = None) -> None:
        self._stores = stores or FeastStores(settings)

    def write(self, tenant_id: str, states: Sequence[UserState]) -> None:
        """Store each state as the user's row, replacing any earlier row of that user.

        Raises:
            NotFound: the tenant has no Feast project.
            DependencyUnavailable: the online store or registry failed; nothing is
                known about which rows were written, so retry the whole batch.
        """
        latest = {s.user_id: s for s in states}  # a user twice in one batch: the later state wins
        if not latest:
            return
        import pandas as pd

        rows = [state_to_row(s) for s in latest.values()]
        columns: dict[str, Any] = {c: [r[c] for r in rows] for c in COLUMNS}
        start = _CLOCK.reserve(len(rows))
        columns[TIMESTAMP_FIELD] = pd.to_datetime(range(start, start + len(rows)), unit="us", utc=True)
        df = pd.DataFrame(columns)

        def put(store: Any, cached: bool) -> None:
            store.write_to_online_store(USER_REALTIME, df, allow_registry_cache=cached)

        self._call(tenant_id, f"writing {len(rows)} user states", put)

    def read(self, tenant_id: str, user_id: str) -> UserState | None:
        """The user's state, or None if the user has no row."""
        return self.read_many(tenant_id, [user_id]).get(user_id)

    def read_many(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, UserState]:
        """States of the users that have one (missing users are left out), in one online read."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}

        def get(store: Any, cached: bool) -> dict[str, list[Any]]:
            if not cached:
                store.refresh_registry()
            result: dict[str, list[Any]] = store.get_online_features(
                features=FEATURE_REFS, entity_rows=[{"user_id": u} for u in unique]
            ).to_dict()
            return result

        data = self._call(tenant_id, f"reading {len(unique)} user states", get)
        states: dict[str, UserState] = {}
        for i, user_id in enumerate(unique):
            row = {c: data[c][i] for c in COLUMNS[1:]}
            if all(v is None for v in row.values()):
                continue
            row["user_id"] = user_id
            states[user_id] = row_to_state(row)
        return states

    def delete(self, tenant_id: str, user_ids: Sequence[str]) -> int:
        """Delete the users' online rows (every feature view of the tenant's project); returns
        how many rows were there. Feast has no delete of one entity, so this goes to the
        online store under Feast's own key encoding."""
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        def keys(store: Any) -> list[bytes]:
            version = store.config.entity_key_serialization_version
            return [
                serialize_entity_key(
                    EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=u)]),
                    entity_key_serialization_version=version,
                )
                for u in user_ids
            ]

        def remove(store: Any, cached: bool) -> int:
            online = store.provider.online_store
            project = store.config.project
            if self._stores.settings.online_store == "redis":
                client = online._get_client(store.config.online_store)
                return int(client.delete(*[k + project.encode() for k in keys(store)])) if user_ids else 0
            conn = online._get_conn(store.config)
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", (project + "%",)
                )
            ]
            found = set()
            with conn:
                for table in tables:
                    for user, key in zip(user_ids, keys(store), strict=True):
                        if conn.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (key,)).rowcount:
                            found.add(user)
            return len(found)

        return self._call(tenant_id, f"deleting {len(user_ids)} users", remove)

    def _call(self, tenant_id: str, what: str, op: Callable[[Any, bool], T]) -> T:
        """Run ``op(store, use_registry_cache)``; once more on a fresh registry if an object is unknown.

        A process may have cached the tenant's registry before the tenant was
        provisioned (or changed); the retry picks up the applied objects.

        Raises:
            NotFound: the tenant has no Feast project.
            DependencyUnavailable: the online store or the registry failed.
        """
        try:
            store = self._stores.get(tenant_id, create=False)
            try:
                return self._locked(op, store, True)
            except Exception as exc:
                if not _unknown_view(exc):
                    raise
                return self._locked(op, store, False)
        except NotFound:
            raise
        except Exception as exc:
            if _unknown_view(exc):
                raise NotFound(f"tenant {tenant_id!r} has no Feast project ({exc!r})") from exc
            # Reopen next time: a tenant purged and onboarded again by another process leaves
            # this one holding a connection to a deleted SQLite file ("readonly database").
            self._stores.evict(tenant_id)
            raise DependencyUnavailable(
                f"feature store: {what} of tenant {tenant_id!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _locked(self, op: Callable[[Any, bool], T], store: Any, cached: bool) -> T:
        lock = self._stores.online_lock  # SQLite: one connection per store, shared by threads
        if lock is None:
            return op(store, cached)
        with lock:
            return op(store, cached)

    def check(self) -> None:
        """Raise if the online store cannot be reached."""
        ping_online_store(self._stores.settings)

    def close(self) -> None:
        """Close the online-store connections of every cached tenant store."""
        self._stores.close()


def _unknown_view(exc: Exception) -> bool:
    """Whether Feast failed because the registry lacks the tenant's objects.

    ``write_to_online_store`` of an unknown view raises a bare ``KeyError`` in feast 0.67.
    """
    from feast.errors import FeastObjectNotFoundException

    return isinstance(exc, FeastObjectNotFoundException) or (
        isinstance(exc, KeyError) and exc.args == (USER_REALTIME,)
    )
