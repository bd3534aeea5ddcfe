"""SQLite adapter for the embedded one-machine mode.

The stream processor writes and model-server processes read the same file: WAL mode (readers
never block the writer), one ``BEGIN IMMEDIATE`` transaction per batch (all or nothing).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from recsys_platform.errors import DependencyUnavailable
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals
from recsys_platform.streaming.scoring import current_session, finish_signals, select_candidates, wanted
from recsys_platform.streaming.state import EPS, apply_batch, check_tenant

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (tenant TEXT PRIMARY KEY, watermark INTEGER, seq INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup (tenant TEXT, event_id TEXT, seq INTEGER NOT NULL,
  PRIMARY KEY (tenant, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_seq ON dedup (tenant, seq);
CREATE TABLE IF NOT EXISTS buckets (tenant TEXT, bucket INTEGER, item TEXT, count REAL NOT NULL,
  PRIMARY KEY (tenant, bucket, item)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (tenant TEXT, window_s INTEGER, item TEXT, count REAL NOT NULL,
  PRIMARY KEY (tenant, window_s, item)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_top ON windows (tenant, window_s, count, item);
CREATE TABLE IF NOT EXISTS sessions (tenant TEXT, session TEXT, last_item TEXT NOT NULL,
  last_ts INTEGER NOT NULL, PRIMARY KEY (tenant, session)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_age ON sessions (tenant, last_ts, session);
CREATE TABLE IF NOT EXISTS session_items (tenant TEXT, session TEXT, item TEXT, ts INTEGER NOT NULL,
  PRIMARY KEY (tenant, session, item)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS neighbours (tenant TEXT, anchor TEXT, item TEXT, count REAL NOT NULL,
  PRIMARY KEY (tenant, anchor, item)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_sessions (tenant TEXT, item TEXT, session TEXT, score INTEGER NOT NULL,
  PRIMARY KEY (tenant, item, session)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_sessions_recent ON item_sessions (tenant, item, score, session);
CREATE TABLE IF NOT EXISTS items (tenant TEXT, item TEXT, last_ts INTEGER NOT NULL,
  PRIMARY KEY (tenant, item)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_age ON items (tenant, last_ts, item);
CREATE TABLE IF NOT EXISTS fresh (tenant TEXT, item TEXT, ts INTEGER NOT NULL,
  PRIMARY KEY (tenant, item)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fresh_newest ON fresh (tenant, ts, item);
"""
_TABLES = (
    "meta",
    "dedup",
    "buckets",
    "windows",
    "sessions",
    "session_items",
    "neighbours",
    "item_sessions",
    "items",
    "fresh",
)


class _SqliteOps:
    """One tenant's state inside an open transaction; implements ``StateOps``."""

    def __init__(self, conn: sqlite3.Connection, tenant: str) -> None:
        self.c = conn
        self.t = tenant
        row = conn.execute("SELECT watermark, seq FROM meta WHERE tenant = ?", (tenant,)).fetchone()
        self.watermark: int | None = row[0] if row else None
        self.seq: int = row[1] if row else 0

    def save_meta(self) -> None:
        self.c.execute(
            "INSERT INTO meta VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE"
            " SET watermark = excluded.watermark, seq = excluded.seq",
            (self.t, self.watermark, self.seq),
        )

    def _trim(self, table: str, key_col: str, key: str, member: str, score: str, cap: int) -> None:
        (n,) = self.c.execute(
            f"SELECT COUNT(*) FROM {table} WHERE tenant = ? AND {key_col} = ?", (self.t, key)
        ).fetchone()
        if n > cap:
            self.c.execute(
                f"DELETE FROM {table} WHERE tenant = ? AND {key_col} = ? AND {member} IN"
                f" (SELECT {member} FROM {table} WHERE tenant = ? AND {key_col} = ?"
                f" ORDER BY {score}, {member} LIMIT ?)",
                (self.t, key, self.t, key, n - cap),
            )

    def get_watermark(self) -> int | None:
        return self.watermark

    def set_watermark(self, watermark_ms: int) -> None:
        self.watermark = watermark_ms

    def seen(self, event_id: str) -> bool:
        if self.c.execute(
            "SELECT 1 FROM dedup WHERE tenant = ? AND event_id = ?", (self.t, event_id)
        ).fetchone():
            return True
        self.seq += 1
        self.c.execute("INSERT INTO dedup VALUES (?, ?, ?)", (self.t, event_id, self.seq))
        return False

    def trim_seen(self, keep: int) -> None:
        self.c.execute("DELETE FROM dedup WHERE tenant = ? AND seq <= ?", (self.t, self.seq - keep))

    def bucket_ids(self) -> list[int]:
        rows = self.c.execute(
            "SELECT DISTINCT bucket FROM buckets WHERE tenant = ? ORDER BY bucket", (self.t,)
        ).fetchall()
        return [r[0] for r in rows]

    def bucket_counts(self, bucket: int) -> list[tuple[str, float]]:
        return self.c.execute(
            "SELECT item, count FROM buckets WHERE tenant = ? AND bucket = ?", (self.t, bucket)
        ).fetchall()

    def bucket_add(self, bucket: int, item: str, weight: float) -> None:
        self.c.execute(
            "INSERT INTO buckets VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET count = count + excluded.count",
            (self.t, bucket, item, weight),
        )

    def drop_bucket(self, bucket: int) -> None:
        self.c.execute("DELETE FROM buckets WHERE tenant = ? AND bucket = ?", (self.t, bucket))

    def window_add(self, window_s: int, item: str, delta: float) -> None:
        (value,) = self.c.execute(
            "INSERT INTO windows VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET count = count + excluded.count RETURNING count",
            (self.t, window_s, item, delta),
        ).fetchone()
        if value <= EPS:
            self.c.execute(
                "DELETE FROM windows WHERE tenant = ? AND window_s = ? AND item = ?", (self.t, window_s, item)
            )

    def session(self, session: str) -> tuple[str, int] | None:
        row = self.c.execute(
            "SELECT last_item, last_ts FROM sessions WHERE tenant = ? AND session = ?", (self.t, session)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def set_session(self, session: str, item: str, ts: int) -> None:
        self.c.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
            " SET last_item = excluded.last_item, last_ts = excluded.last_ts",
            (self.t, session, item, ts),
        )

    def session_add_item(self, session: str, item: str, ts: int, cap: int) -> None:
        cur = self.c.execute(
            "INSERT INTO session_items VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (self.t, session, item, ts),
        )
        if cur.rowcount:
            self._trim("session_items", "session", session, "item", "ts", cap)
        else:
            self.c.execute(
                "UPDATE session_items SET ts = MAX(ts, ?) WHERE tenant = ? AND session = ? AND item = ?",
                (ts, self.t, session, item),
            )

    def neighbour_add(self, anchor: str, item: str, weight: float, cap: int) -> None:
        cur = self.c.execute(
            "UPDATE neighbours SET count = count + ? WHERE tenant = ? AND anchor = ? AND item = ?",
            (weight, self.t, anchor, item),
        )
        if not cur.rowcount:
            self.c.execute("INSERT INTO neighbours VALUES (?, ?, ?, ?)", (self.t, anchor, item, weight))
            self._trim("neighbours", "anchor", anchor, "item", "count", cap)

    def item_session_set(self, item: str, session: str, score: int, cap: int) -> None:
        cur = self.c.execute(
            "UPDATE item_sessions SET score = ? WHERE tenant = ? AND item = ? AND session = ?",
            (score, self.t, item, session),
        )
        if not cur.rowcount:
            self.c.execute("INSERT INTO item_sessions VALUES (?, ?, ?, ?)", (self.t, item, session, score))
            self._trim("item_sessions", "item", item, "session", "score", cap)

    def touch_item(self, item: str, ts: int) -> None:
        self.c.execute(
            "INSERT INTO items VALUES (?, ?, ?)"
            " ON CONFLICT DO UPDATE SET last_ts = MAX(last_ts, excluded.last_ts)",
            (self.t, item, ts),
        )

    def expire(self, cutoff_ms: int, limit: int) -> None:
        sessions = self.c.execute(
            "SELECT session FROM sessions WHERE tenant = ? AND last_ts < ? ORDER BY last_ts, session LIMIT ?",
            (self.t, cutoff_ms, limit),
        ).fetchall()
        for (session,) in sessions:
            self.c.execute("DELETE FROM sessions WHERE tenant = ? AND session = ?", (self.t, session))
            self.c.execute("DELETE FROM session_items WHERE tenant = ? AND session = ?", (self.t, session))
        items = self.c.execute(
            "SELECT item FROM items WHERE tenant = ? AND last_ts < ? ORDER BY last_ts, item LIMIT ?",
            (self.t, cutoff_ms, limit),
        ).fetchall()
        for (item,) in items:
            self.c.execute("DELETE FROM items WHERE tenant = ? AND item = ?", (self.t, item))
            self.c.execute("DELETE FROM neighbours WHERE tenant = ? AND anchor = ?", (self.t, item))
            self.c.execute("DELETE FROM item_sessions WHERE tenant = ? AND item = ?", (self.t, item))


class SqliteItemStats:
    """The streaming state of every tenant in one SQLite file (one writer, many reader processes)."""

    def __init__(self, path: str | Path, config: StreamingConfig | None = None) -> None:
        """Open (and create) the database file.

        Args:
            path: The SQLite file; its folder is created if missing.
            config: Windows, caps and V-SkNN parameters (defaults if ``None``).
        """
        self.config = config or StreamingConfig()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise DependencyUnavailable(f"SQLite {self.path} is locked: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One read transaction: a consistent snapshot while the writer commits batches.
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def apply(self, tenant_id: str, events: Sequence[ItemEvent]) -> int:
        """See :meth:`ItemStatsStore.apply`: one transaction per batch."""
        check_tenant(tenant_id)
        with self._transaction() as conn:
            ops = _SqliteOps(conn, tenant_id)
            applied = apply_batch(ops, self.config, events)
            if applied:
                ops.save_meta()
            return applied

    def signals(
        self,
        tenant_id: str,
        session_items: Sequence[str],
        *,
        k: int = 100,
        exclude_session: str | None = None,
        want: Collection[str] | None = None,
    ) -> StreamSignals:
        """See :meth:`ItemStatsStore.signals`."""
        check_tenant(tenant_id)
        cfg = self.config
        session = current_session(session_items, cfg.session_max_items)
        transitions, knn = wanted(want)
        with self._read() as c:
            row = c.execute("SELECT watermark FROM meta WHERE tenant = ?", (tenant_id,)).fetchone()
            trending = {
                w: dict(
                    c.execute(
                        "SELECT item, count FROM windows WHERE tenant = ? AND window_s = ?"
                        " ORDER BY count DESC, item DESC LIMIT ?",
                        (tenant_id, w, cfg.trending_top_k),
                    ).fetchall()
                )
                for w in cfg.trending_windows_s
            }
            neighbour_lists = [
                dict(
                    c.execute(
                        "SELECT item, count FROM neighbours WHERE tenant = ? AND anchor = ?",
                        (tenant_id, item),
                    ).fetchall()
                )
                if transitions
                else {}
                for item in session
            ]
            index = [
                c.execute(
                    "SELECT session, score FROM item_sessions WHERE tenant = ? AND item = ?"
                    " ORDER BY score DESC, session DESC LIMIT ?",
                    (tenant_id, item, cfg.sknn_sample),
                ).fetchall()
                for item in (session if knn else ())
            ]
            candidates = select_candidates(index, cfg.sknn_sample, exclude_session)
            items_of: dict[str, set[str]] = {}
            for candidate in candidates:
                rows = c.execute(
                    "SELECT item FROM session_items WHERE tenant = ? AND session = ?", (tenant_id, candidate)
                ).fetchall()
                items_of[candidate] = {r[0] for r in rows}
        watermark = row[0] if row else None
        return finish_signals(cfg, k, watermark, trending, session, neighbour_lists, candidates, items_of)

    def add_items(self, tenant_id: str, items: Sequence[tuple[str, int]]) -> None:
        """See :meth:`ItemStatsStore.add_items`."""
        check_tenant(tenant_id)
        with self._transaction() as c:
            c.executemany(
                "INSERT INTO fresh VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET ts = MAX(ts, excluded.ts)",
                [(tenant_id, item, int(ts)) for item, ts in items],
            )
            c.execute(
                "DELETE FROM fresh WHERE tenant = ? AND item NOT IN (SELECT item FROM fresh WHERE tenant = ?"
                " ORDER BY ts DESC, item DESC LIMIT ?)",
                (tenant_id, tenant_id, self.config.fresh_max_items),
            )

    def fresh(self, tenant_id: str, k: int) -> list[tuple[str, int]]:
        """See :meth:`ItemStatsStore.fresh`."""
        check_tenant(tenant_id)
        with self._read() as c:
            rows = c.execute(
                "SELECT item, ts FROM fresh WHERE tenant = ? ORDER BY ts DESC, item DESC LIMIT ?",
                (tenant_id, max(k, 0)),
            ).fetchall()
        return [(item, int(ts)) for item, ts in rows]

    def watermark(self, tenant_id: str) -> int | None:
        """See :meth:`ItemStatsStore.watermark`."""
        check_tenant(tenant_id)
        with self._read() as c:
            row = c.execute("SELECT watermark FROM meta WHERE tenant = ?", (tenant_id,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def usage(self, tenant_id: str) -> dict[str, int]:
        """Rows per table, ``keys`` as Redis would count them, ``bytes`` of the rows' values."""
        check_tenant(tenant_id)
        t = tenant_id
        with self._read() as c:

            def one(sql: str) -> int:
                return int(c.execute(sql, (t,)).fetchone()[0] or 0)

            size = 0
            for table in _TABLES:
                columns = [r[1] for r in c.execute(f"PRAGMA table_info({table})").fetchall()]
                size += one(
                    f"SELECT SUM({' + '.join(f'LENGTH({col})' for col in columns)}) FROM {table}"
                    " WHERE tenant = ?"
                )
            sessions = one("SELECT COUNT(*) FROM sessions WHERE tenant = ?")
            keys = (
                one("SELECT COUNT(DISTINCT bucket) FROM buckets WHERE tenant = ?")
                + one("SELECT COUNT(DISTINCT window_s) FROM windows WHERE tenant = ?")
                + 2 * sessions
                + one("SELECT COUNT(DISTINCT anchor) FROM neighbours WHERE tenant = ?")
                + one("SELECT COUNT(DISTINCT item) FROM item_sessions WHERE tenant = ?")
            )
            return {
                "keys": keys,
                "items": one("SELECT COUNT(*) FROM items WHERE tenant = ?"),
                "sessions": sessions,
                "neighbour_lists": one("SELECT COUNT(DISTINCT anchor) FROM neighbours WHERE tenant = ?"),
                "event_ids": one("SELECT COUNT(*) FROM dedup WHERE tenant = ?"),
                "bytes": size,
            }

    def delete_tenant(self, tenant_id: str) -> None:
        """See :meth:`ItemStatsStore.delete_tenant`."""
        check_tenant(tenant_id)
        with self._transaction() as c:
            for table in _TABLES:
                c.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant_id,))

    def delete_sessions(self, tenant_id: str, sessions: Sequence[str]) -> int:
        """See :meth:`ItemStatsStore.delete_sessions`."""
        check_tenant(tenant_id)
        held = 0
        with self._transaction() as c:
            for session in sessions:
                held += c.execute(
                    "DELETE FROM sessions WHERE tenant = ? AND session = ?", (tenant_id, session)
                ).rowcount
                for table in ("session_items", "item_sessions"):
                    c.execute(f"DELETE FROM {table} WHERE tenant = ? AND session = ?", (tenant_id, session))
        return held

    def check(self) -> None:
        """Raise ``DependencyUnavailable`` if the file cannot be read."""
        try:
            with self._lock:
                self._conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise DependencyUnavailable(f"SQLite {self.path} is not usable: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
