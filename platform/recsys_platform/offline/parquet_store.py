"""Append-only Parquet event files: ``<root>/tenant=<id>/date=<YYYY-MM-DD>/part-<batch>.parquet``.

Writes are atomic (temporary file, then rename) and named by the log position of the
batch, so re-writing a re-delivered batch replaces the same file. Batches cut at
other positions on a replay can overlap, so readers de-duplicate by ``event_id``:
through :meth:`OfflineEventStore.read` every event appears exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("item_id", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("context", pa.string()),
        ("recommendation_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class OfflineEvent:
    event_id: str
    user_id: str
    item_id: str | None
    type: str
    timestamp: datetime
    received_at: datetime
    session_id: str | None = None
    value: float | None = None
    context: dict[str, Any] | None = None
    recommendation_id: str | None = None


class OfflineEventStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def tenant_dir(self, tenant_id: str) -> Path:
        return self.root / f"tenant={tenant_id}"

    def append(self, tenant_id: str, events: Sequence[OfflineEvent], batch_id: str) -> list[Path]:
        """Write ``events`` (one file per event date); idempotent for the same ``batch_id``."""
        by_date: dict[date, list[OfflineEvent]] = defaultdict(list)
        for e in events:
            by_date[e.timestamp.astimezone(UTC).date()].append(e)
        written = []
        for day, rows in sorted(by_date.items()):
            folder = self.tenant_dir(tenant_id) / f"date={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"part-{batch_id}.parquet"
            tmp = folder / f".{target.name}.{uuid.uuid4().hex}.tmp"
            pq.write_table(_table(rows), tmp)
            os.replace(tmp, target)
            written.append(target)
        return written

    def read(self, tenant_id: str, start: date | None = None, end: date | None = None) -> pa.Table:
        """All events of a tenant with ``start <= date <= end``, each ``event_id`` once."""
        files = []
        base = self.tenant_dir(tenant_id)
        if base.is_dir():
            for folder in sorted(base.glob("date=*")):
                day = date.fromisoformat(folder.name.removeprefix("date="))
                if (start is None or day >= start) and (end is None or day <= end):
                    files.extend(sorted(folder.glob("part-*.parquet")))
        if not files:
            return SCHEMA.empty_table()
        table = pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files])
        return _first_per_event_id(table)

    def read_user(self, tenant_id: str, user_id: str) -> pa.Table:
        """Every event of one user of the tenant, each ``event_id`` once (an export)."""
        import pyarrow.compute as pc

        table = self.read(tenant_id)
        return table.filter(pc.equal(table.column("user_id"), user_id)) if table.num_rows else table

    def delete_user(self, tenant_id: str, user_id: str) -> pa.Table:
        """Remove one user's events from every file of the tenant; returns the removed rows.

        Each file holding the user is rewritten without them (temporary file, then rename) or
        deleted if nothing else is left, so a reader sees the file before or after, never half.
        """
        import pyarrow.compute as pc

        removed: list[pa.Table] = []
        base = self.tenant_dir(tenant_id)
        for file in sorted(base.glob("date=*/part-*.parquet")) if base.is_dir() else []:
            table = pq.read_table(file, schema=SCHEMA)
            mine = pc.equal(table.column("user_id"), user_id)
            if not pc.any(mine).as_py():
                continue
            removed.append(table.filter(mine))
            rest = table.filter(pc.invert(mine))
            if rest.num_rows == 0:
                file.unlink()
                continue
            tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex}.tmp")
            pq.write_table(rest, tmp)
            os.replace(tmp, file)
        return pa.concat_tables(removed) if removed else SCHEMA.empty_table()

    def purge(self, tenant_id: str) -> None:
        shutil.rmtree(self.tenant_dir(tenant_id), ignore_errors=True)

    def drop_before(self, tenant_id: str, keep_from: date) -> int:
        """Delete date partitions older than ``keep_from`` (data retention); returns how many."""
        dropped = 0
        for folder in self.tenant_dir(tenant_id).glob("date=*"):
            if date.fromisoformat(folder.name.removeprefix("date=")) < keep_from:
                shutil.rmtree(folder)
                dropped += 1
        return dropped


def _table(rows: Sequence[OfflineEvent]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "event_id": [r.event_id for r in rows],
            "user_id": [r.user_id for r in rows],
            "session_id": [r.session_id for r in rows],
            "item_id": [r.item_id for r in rows],
            "type": [r.type for r in rows],
            "value": [r.value for r in rows],
            "timestamp": [r.timestamp for r in rows],
            "received_at": [r.received_at for r in rows],
            "context": [json.dumps(r.context, sort_keys=True) if r.context else None for r in rows],
            "recommendation_id": [r.recommendation_id for r in rows],
        },
        schema=SCHEMA,
    )


def _first_per_event_id(table: pa.Table) -> pa.Table:
    ids = table.column("event_id").to_pylist()
    seen: set[str] = set()
    keep = []
    for i, event_id in enumerate(ids):
        if event_id not in seen:
            seen.add(event_id)
            keep.append(i)
    if len(keep) == len(ids):
        return table
    return table.take(pa.array(keep, type=pa.int64()))
