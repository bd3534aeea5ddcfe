"""Item metadata used by training and serving, as one pandas DataFrame.

Columns: ``item_id`` (str), ``title`` (str, may be ""), ``text`` (str, may be ""),
``categories`` (list[str]), ``created_at`` (float unix seconds or NaN), ``available`` (bool).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

CATALOG_COLUMNS = ("item_id", "title", "text", "categories", "created_at", "available")
DEFAULT_TEXT_FIELDS = ("title", "name", "abstract", "description", "text")
DEFAULT_CATEGORY_FIELDS = ("category", "categories", "subcategory", "genres", "tags")


def _as_text(value: Any, field: str, position: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"catalog record {position}: field {field!r} must be text, got {type(value).__name__}")


def _as_categories(value: Any, field: str, position: int) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple):
        raise ValueError(
            f"catalog record {position}: field {field!r} must be a string or a list of strings, "
            f"got {type(value).__name__}"
        )
    out = []
    for v in values:
        if not isinstance(v, str):
            raise ValueError(f"catalog record {position}: field {field!r} holds a non-string {v!r}")
        if v.strip():
            out.append(v.strip().lower())
    return out


PUBLISHED_NAMES = ("published_at", "release_date")
"""Item attributes read as the publish time when ``created_at`` is not given."""


def published_time(attributes: Mapping[str, Any], stored_at: float) -> float:
    """An item's publish time in unix seconds: its ``created_at``, else ``published_at`` or
    ``release_date`` attribute (the first set and readable), else ``stored_at`` (when the platform
    stored it)."""
    for name in ("created_at", *PUBLISHED_NAMES):
        value = attributes.get(name)
        if value is None:
            continue
        try:
            seconds = _as_time(value, 0)
        except ValueError:
            continue
        if math.isfinite(seconds):
            return seconds
    return stored_at


def _as_time(value: Any, position: int) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"catalog record {position}: field 'created_at' must be a time, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ValueError(
        f"catalog record {position}: field 'created_at' must be unix seconds or an ISO 8601 time, "
        f"got {value!r}"
    )


def catalog_frame(
    items: Iterable[Mapping[str, Any]],
    text_fields: Sequence[str] | None = None,
    category_fields: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Builds the catalog frame from catalog records (dicts of attributes incl. ``item_id``).

    Args:
        items: One mapping per item. ``item_id`` is required; ``created_at`` (unix seconds
            or ISO 8601) and ``available`` (bool, default True) are optional. A record may
            also nest its attributes under ``attributes``.
        text_fields: Fields concatenated into ``text`` (default: title, name, abstract,
            description, text where present). The first non-empty one is the ``title``.
        category_fields: Fields whose values (a string or a list) become ``categories``
            (default: category, categories, subcategory, genres, tags).

    Returns:
        The frame, one row per item, in input order.

    Raises:
        ValueError: Naming the record and field, on a missing/duplicate ``item_id`` or a
            value of the wrong type.
    """
    texts = tuple(text_fields) if text_fields is not None else DEFAULT_TEXT_FIELDS
    cats = tuple(category_fields) if category_fields is not None else DEFAULT_CATEGORY_FIELDS
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, record in enumerate(items):
        if not isinstance(record, Mapping):
            raise ValueError(f"catalog record {position} must be a mapping, got {type(record).__name__}")
        attrs: dict[str, Any] = dict(record.get("attributes") or {})
        attrs.update({k: v for k, v in record.items() if k != "attributes"})
        raw_id = attrs.get("item_id")
        if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
            raise ValueError(f"catalog record {position}: field 'item_id' is missing or empty")
        if not isinstance(raw_id, str | int):
            raise ValueError(f"catalog record {position}: field 'item_id' must be a string")
        item_id = str(raw_id)
        if item_id in seen:
            raise ValueError(f"catalog record {position}: field 'item_id' {item_id!r} is duplicated")
        seen.add(item_id)
        parts = [_as_text(attrs.get(f), f, position) for f in texts]
        title = next((p for p in parts if p.strip()), "")
        categories: list[str] = []
        for f in cats:
            for c in _as_categories(attrs.get(f), f, position):
                if c not in categories:
                    categories.append(c)
        available = attrs.get("available", True)
        if not isinstance(available, bool):
            raise ValueError(f"catalog record {position}: field 'available' must be a boolean")
        rows.append(
            {
                "item_id": item_id,
                "title": title.strip(),
                "text": " ".join(p for p in parts if p.strip()),
                "categories": categories,
                "created_at": _as_time(attrs.get("created_at"), position),
                "available": available,
            }
        )
    return pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))


def normalise_catalog(catalog: pd.DataFrame) -> pd.DataFrame:
    """Fills missing optional columns of a catalog frame with defaults and checks the types.

    Raises:
        ValueError: When ``item_id`` is missing or duplicated.
    """
    if "item_id" not in catalog:
        raise ValueError("catalog: column 'item_id' is missing")
    frame = pd.DataFrame({"item_id": catalog["item_id"].astype(str)})
    if frame["item_id"].duplicated().any():
        dup = frame["item_id"][frame["item_id"].duplicated()].iloc[0]
        raise ValueError(f"catalog: column 'item_id' has the duplicate {dup!r}")
    n = len(frame)
    text = catalog["text"].fillna("").astype(str) if "text" in catalog else pd.Series([""] * n)
    frame["title"] = catalog["title"].fillna("").astype(str).to_numpy() if "title" in catalog else ""
    frame["text"] = text.to_numpy()
    if "categories" in catalog:
        frame["categories"] = [
            _as_categories(v, "categories", i) for i, v in enumerate(catalog["categories"].tolist())
        ]
    else:
        frame["categories"] = [[] for _ in range(n)]
    frame["created_at"] = (
        pd.to_numeric(catalog["created_at"], errors="coerce").astype(float).to_numpy()
        if "created_at" in catalog
        else float("nan")
    )
    frame["available"] = catalog["available"].astype(bool).to_numpy() if "available" in catalog else True
    return frame.reset_index(drop=True)
