"""Catalog storage: schema changes and bulk upsert with a per-record result."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.catalog.schemas import (
    CatalogSchema,
    ItemBatchResult,
    ItemPage,
    ItemPublic,
    ItemResult,
)
from recsys_platform.catalog.validation import RecordInvalid, incompatible_changes, validate_item
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import CatalogItem, utcnow
from recsys_platform.errors import Conflict, FieldError, InvalidInput, NotFound
from recsys_platform.recommenders.catalog_frame import published_time
from recsys_platform.tenancy.lookup import active_tenant

_CHUNK = 500
log = logging.getLogger(__name__)
NewItemsHook = Callable[[str, list[tuple[str, int]]], None]
"""Told ``(tenant_id, [(item_id, publish time in ms)])`` after new items are stored."""


class CatalogService:
    """Items of one tenant at a time; every call names its tenant.

    ``on_new_items`` (the streaming state's ``add_items``) hears of every created item after the
    transaction commits, so a new item is a candidate (the ``fresh`` signal) within seconds of
    its import; its failure is logged and never fails or undoes the import.
    """

    def __init__(
        self, sessions: sessionmaker[Session], engine: Engine, on_new_items: NewItemsHook | None = None
    ) -> None:
        self._sessions = sessions
        self._dialect = engine.dialect.name
        self._on_new_items = on_new_items

    def get_schema(self, tenant_id: str) -> CatalogSchema:
        with self._sessions() as s:
            return CatalogSchema.model_validate(active_tenant(s, tenant_id).catalog_schema)

    def replace_schema(self, tenant_id: str, schema: CatalogSchema) -> CatalogSchema:
        """Replace the declared fields; refuses changes that would invalidate stored items."""
        with transaction(self._sessions) as s:
            tenant = active_tenant(s, tenant_id, for_update=True)
            old = CatalogSchema.model_validate(tenant.catalog_schema)
            has_items = s.scalar(
                select(CatalogItem.item_id).where(CatalogItem.tenant_id == tenant_id).limit(1)
            )
            if has_items is not None:
                problems = incompatible_changes(old, schema)
                if problems:
                    raise Conflict(
                        "catalog schema change is incompatible with stored items: "
                        + "; ".join(f"{p.field}: {p.reason}" for p in problems),
                        problems,
                    )
            tenant.catalog_schema = schema.model_dump(mode="json")
            return schema

    def upsert(self, tenant_id: str, records: Sequence[Any]) -> ItemBatchResult:
        """Validate each record; write the valid ones in one transaction; report every record."""
        results: list[ItemResult | None] = [None] * len(records)
        created: list[tuple[str, int]] = []
        with transaction(self._sessions) as s:
            tenant = active_tenant(s, tenant_id, for_update=True)
            schema = CatalogSchema.model_validate(tenant.catalog_schema)
            valid: dict[str, tuple[int, dict[str, Any]]] = {}
            for index, record in enumerate(records):
                try:
                    item_id, attributes = validate_item(record, schema)
                except RecordInvalid as exc:
                    results[index] = _rejected(index, record, exc.errors)
                    continue
                if item_id in valid:
                    first = valid[item_id][0]
                    results[index] = _rejected(
                        index,
                        record,
                        [FieldError("item_id", f"duplicate item_id in this batch (first at index {first})")],
                    )
                    continue
                valid[item_id] = (index, attributes)

            existing = self._existing_ids(s, tenant_id, list(valid))
            max_items = int(tenant.quotas.get("max_items", 0))
            room = max_items - self._count(s, tenant_id)
            rows: list[dict[str, Any]] = []
            now = utcnow()
            for item_id, (index, attributes) in valid.items():
                if item_id not in existing:
                    if room <= 0:
                        results[index] = _rejected(
                            index,
                            records[index],
                            [FieldError("item_id", f"tenant quota max_items ({max_items}) reached")],
                        )
                        continue
                    room -= 1
                rows.append(
                    {
                        "tenant_id": tenant_id,
                        "item_id": item_id,
                        "attributes": attributes,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                status = "updated" if item_id in existing else "created"
                results[index] = ItemResult(index=index, item_id=item_id, status=status)
                if status == "created":
                    published = published_time(attributes, now.timestamp())
                    created.append((item_id, int(published * 1000)))
            for chunk in _chunks(rows, _CHUNK):
                s.execute(self._upsert_statement(chunk))
        if created and self._on_new_items is not None:
            try:
                self._on_new_items(tenant_id, created)
            except Exception as exc:  # the items are stored; only their fresh-signal entry is late
                log.warning(
                    "new items not added to the streaming state: %s", exc, extra={"tenant_id": tenant_id}
                )
        final = [r for r in results if r is not None]
        return ItemBatchResult(
            created=sum(r.status == "created" for r in final),
            updated=sum(r.status == "updated" for r in final),
            rejected=sum(r.status == "rejected" for r in final),
            results=final,
        )

    def get(self, tenant_id: str, item_id: str) -> ItemPublic:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            row = s.get(CatalogItem, (tenant_id, item_id))
            if row is None:
                raise NotFound(f"item '{item_id}' not found", [FieldError("item_id", "unknown")])
            return _public(row)

    def list_items(self, tenant_id: str, limit: int, cursor: str | None) -> ItemPage:
        after = _decode_cursor(cursor) if cursor else None
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            q = select(CatalogItem).where(CatalogItem.tenant_id == tenant_id)
            if after is not None:
                q = q.where(CatalogItem.item_id > after)
            rows = s.scalars(q.order_by(CatalogItem.item_id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].item_id) if more and rows else None
        return ItemPage(items=[_public(r) for r in rows], next_cursor=next_cursor)

    def delete(self, tenant_id: str, item_id: str) -> None:
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            gone = s.execute(
                delete(CatalogItem).where(CatalogItem.tenant_id == tenant_id, CatalogItem.item_id == item_id)
            )
            if gone.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"item '{item_id}' not found", [FieldError("item_id", "unknown")])

    def count(self, tenant_id: str) -> int:
        with self._sessions() as s:
            return self._count(s, tenant_id)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _count(s: Session, tenant_id: str) -> int:
        return int(
            s.scalar(select(func.count()).select_from(CatalogItem).where(CatalogItem.tenant_id == tenant_id))
            or 0
        )

    @staticmethod
    def _existing_ids(s: Session, tenant_id: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(ids, _CHUNK):
            found.update(
                s.scalars(
                    select(CatalogItem.item_id).where(
                        CatalogItem.tenant_id == tenant_id, CatalogItem.item_id.in_(chunk)
                    )
                )
            )
        return found

    def _upsert_statement(self, rows: Sequence[dict[str, Any]]) -> Any:
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        stmt = insert(CatalogItem).values(rows)
        return stmt.on_conflict_do_update(
            index_elements=[CatalogItem.tenant_id, CatalogItem.item_id],
            set_={"attributes": stmt.excluded.attributes, "updated_at": stmt.excluded.updated_at},
        )


def _rejected(index: int, record: Any, errors: list[FieldError]) -> ItemResult:
    item_id = record.get("item_id") if isinstance(record, dict) else None
    return ItemResult(
        index=index,
        item_id=item_id if isinstance(item_id, str) else None,
        status="rejected",
        errors=[e.as_dict() for e in errors],
    )


def _public(row: CatalogItem) -> ItemPublic:
    return ItemPublic(
        item_id=row.item_id, attributes=row.attributes, created_at=row.created_at, updated_at=row.updated_at
    )


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "cursor: not a cursor returned by this API", [FieldError("cursor", "malformed")]
        ) from None
