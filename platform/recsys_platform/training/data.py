"""Training data of a tenant: events from the offline store, items from the control-plane DB.

Both loaders are plain functions over explicit locations, so the pipeline's ``load_data``
step (a separate process, maybe a pod) and the service's pre-flight check share them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_platform.errors import FieldError, InsufficientTrainingData
from recsys_platform.training.params import EVENT_WEIGHTS, TrainingParams

INTERACTION_COLUMNS = ("user_id", "item_id", "value", "timestamp")
TEXT_NAMES = ("title", "name")
CATEGORY_NAMES = ("category", "categories", "subcategory", "genres", "genre", "tags", "section")


@dataclass(frozen=True)
class DataWindow:
    """First and last event time used (ISO 8601 UTC) and the sizes."""

    start: str
    end: str
    events: int
    users: int
    items: int
    catalog_items: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_events(offline_root: str | Path, tenant_id: str, params: TrainingParams) -> pd.DataFrame:
    """Weighted interactions ``user_id, item_id, value, timestamp (unix s), session_id`` sorted by time."""
    from recsys_platform.offline.parquet_store import OfflineEventStore

    table = OfflineEventStore(offline_root).read(tenant_id, params.start, params.end)
    frame = table.select(["user_id", "item_id", "type", "value", "timestamp", "session_id"]).to_pandas()
    frame = frame[frame["item_id"].notna() & frame["type"].isin(list(EVENT_WEIGHTS))]
    weights = frame["type"].map(EVENT_WEIGHTS).astype(float)
    ratings = frame["type"] == "rating"
    weights[ratings] = frame.loc[ratings, "value"].fillna(1.0).clip(lower=0.0).astype(float)
    ts = frame["timestamp"]
    out = pd.DataFrame(
        {
            "user_id": frame["user_id"].astype(str),
            "item_id": frame["item_id"].astype(str),
            "value": weights.to_numpy(dtype=float),
            "timestamp": ts.astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e9,
            "session_id": frame["session_id"].astype(object).where(frame["session_id"].notna(), None),
        }
    )
    out = out[out["value"] > 0]
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _catalog_fields(schema: dict[str, Any] | None) -> tuple[list[str] | None, list[str] | None]:
    fields = (schema or {}).get("fields") or []
    if not fields:
        return None, None
    text = [f["name"] for f in fields if f["type"] == "string" and f["name"] in TEXT_NAMES]
    text += [f["name"] for f in fields if f["type"] == "text"]
    cats = [f["name"] for f in fields if f["type"] == "string_list"]
    cats += [f["name"] for f in fields if f["type"] == "string" and f["name"] in CATEGORY_NAMES]
    return text, cats


def load_catalog(database_url: str, tenant_id: str) -> pd.DataFrame:
    """The tenant's catalog as a ``catalog_frame`` (text/category fields from its catalog schema)."""
    import sqlalchemy as sa

    from recsys_platform.db.engine import build_engine
    from recsys_platform.db.models import CatalogItem, Tenant
    from recsys_platform.recommenders.catalog_frame import PUBLISHED_NAMES, catalog_frame

    engine = build_engine(database_url)
    try:
        with engine.connect() as conn:
            schema = conn.execute(sa.select(Tenant.catalog_schema).where(Tenant.id == tenant_id)).scalar()
            rows = conn.execute(
                sa.select(CatalogItem.item_id, CatalogItem.attributes, CatalogItem.created_at)
                .where(CatalogItem.tenant_id == tenant_id)
                .order_by(CatalogItem.item_id)
            ).all()
    finally:
        engine.dispose()
    text_fields, category_fields = _catalog_fields(schema)
    records = []
    for item_id, attributes, created_at in rows:
        record = dict(attributes or {})
        record["item_id"] = item_id
        if record.get("created_at") is None:
            published = next((record[k] for k in PUBLISHED_NAMES if record.get(k) is not None), None)
            record["created_at"] = published if published is not None else created_at.timestamp()
        records.append(record)
    try:
        return catalog_frame(records, text_fields=text_fields, category_fields=category_fields)
    except ValueError as exc:
        raise InsufficientTrainingData(
            f"catalog of tenant {tenant_id!r}: {exc}", [FieldError("catalog", str(exc))]
        ) from exc


def check_training_data(
    tenant_id: str, events: pd.DataFrame, catalog: pd.DataFrame, params: TrainingParams
) -> DataWindow:
    """Refuse data a model cannot be trained or evaluated on; the error names what is missing."""
    where = f"tenant {tenant_id!r}"
    if events.empty:
        raise InsufficientTrainingData(
            f"{where} has no usable events in the offline store (window {params.start}..{params.end})",
            [FieldError("events", "no events")],
        )
    users, items = events["user_id"].nunique(), events["item_id"].nunique()
    problems = []
    if len(events) < params.min_events:
        problems.append(
            FieldError("events", f"{len(events)} usable events, at least {params.min_events} needed")
        )
    if users < params.min_users:
        problems.append(
            FieldError("events.user_id", f"{users} distinct users, at least {params.min_users} needed")
        )
    if items < params.min_items:
        problems.append(
            FieldError("events.item_id", f"{items} distinct items, at least {params.min_items} needed")
        )
    if problems:
        raise InsufficientTrainingData(
            f"{where} has too little data to train: " + "; ".join(p.reason for p in problems), problems
        )
    if params.require_content:
        has_text = bool(len(catalog)) and bool(catalog["text"].fillna("").str.strip().astype(bool).any())
        if not has_text:
            raise InsufficientTrainingData(
                f"{where}: the content model is required but no catalog item has text "
                f"({len(catalog)} items; declare a text field and import items with it)",
                [FieldError("catalog.text", "no item has text")],
            )
    return DataWindow(
        start=_iso(float(events["timestamp"].min())),
        end=_iso(float(events["timestamp"].max())),
        events=len(events),
        users=int(users),
        items=int(items),
        catalog_items=len(catalog),
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat() if math.isfinite(ts) else ""


def to_interactions(events: pd.DataFrame) -> Any:
    """``recommenders.data.Interactions`` of an events frame (timestamps in whole seconds)."""
    from recsys_platform.recommenders.data import Interactions

    return Interactions(
        user_ids=events["user_id"].astype(str).to_numpy(),
        item_ids=events["item_id"].astype(str).to_numpy(),
        values=events["value"].to_numpy(dtype=np.float64),
        timestamps=np.floor(events["timestamp"].to_numpy(dtype=float)).astype(np.int64),
    )


def write_frames(events: pd.DataFrame, catalog: pd.DataFrame, events_path: str, catalog_path: str) -> None:
    """Step outputs: events as Parquet, catalog as JSON lines (categories are lists)."""
    Path(events_path).parent.mkdir(parents=True, exist_ok=True)
    events.to_parquet(events_path, index=False)
    Path(catalog_path).parent.mkdir(parents=True, exist_ok=True)
    with open(catalog_path, "w", encoding="utf-8") as fh:
        for row in catalog.to_dict("records"):
            created = row.get("created_at")
            row["created_at"] = (
                None if created is None or (isinstance(created, float) and math.isnan(created)) else created
            )
            fh.write(json.dumps(row) + "\n")


def read_frames(events_path: str, catalog_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inverse of :func:`write_frames`."""
    from recsys_platform.recommenders.catalog_frame import CATALOG_COLUMNS, normalise_catalog

    events = pd.read_parquet(events_path)
    with open(catalog_path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    catalog = pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))
    catalog["created_at"] = pd.to_numeric(catalog["created_at"], errors="coerce")
    return events, normalise_catalog(catalog) if len(catalog) else catalog
