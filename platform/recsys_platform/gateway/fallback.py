"""The per-tenant popularity list served when a model server cannot answer in time.

Refreshed in the background (never on the request path once warm) from the tenant's
default deployment (``{"popular": true, "n": size}``); when that fails, from the newest
items of the catalog in the database. A stale list is served while a refresh runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import CatalogItem
from recsys_platform.gateway.model_client import ModelClient, ModelUnavailable
from recsys_platform.gateway.routing import TenantRoutes
from recsys_platform.stream.directory import CATEGORY_FIELDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallbackItem:
    item_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class FallbackList:
    items: tuple[FallbackItem, ...]
    categories: dict[str, tuple[str, ...]]  # known categories of items (from the catalog)
    source: str  # "model" or "catalog"

    def select(
        self,
        n: int,
        exclude_items: Collection[str] = (),
        include_categories: Collection[str] | None = None,
        exclude_categories: Collection[str] = (),
    ) -> list[FallbackItem]:
        """The first ``n`` items passing the filters (unknown categories never match an include)."""
        out: list[FallbackItem] = []
        for item in self.items:
            if item.item_id in exclude_items:
                continue
            cats = self.categories.get(item.item_id, ())
            if include_categories and not set(cats) & set(include_categories):
                continue
            if exclude_categories and set(cats) & set(exclude_categories):
                continue
            out.append(item)
            if len(out) == n:
                break
        return out


class FallbackCache:
    """Tenant -> :class:`FallbackList`, refreshed every ``refresh_seconds`` in the background."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        models: ModelClient,
        routes_of: Callable[[str], TenantRoutes],
        size: int,
        refresh_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._models = models
        self._routes_of = routes_of
        self._size = size
        self._refresh_s = refresh_seconds
        self._lists: dict[str, tuple[float, FallbackList]] = {}
        self._refreshing: dict[str, asyncio.Task[FallbackList]] = {}

    async def get(self, tenant_id: str) -> FallbackList:
        """The tenant's list; the first call for a tenant loads it, later calls never wait."""
        hit = self._lists.get(tenant_id)
        if hit is None:
            return await self._refresh_once(tenant_id)
        if time.monotonic() - hit[0] > self._refresh_s and tenant_id not in self._refreshing:
            self._refresh_in_background(tenant_id)
        return hit[1]

    def warm(self, tenant_id: str) -> None:
        """Start loading a tenant's list if it has none yet (called on every request)."""
        if tenant_id not in self._lists and tenant_id not in self._refreshing:
            self._refresh_in_background(tenant_id)

    def _refresh_in_background(self, tenant_id: str) -> asyncio.Task[FallbackList]:
        task = asyncio.get_running_loop().create_task(self.refresh(tenant_id))
        self._refreshing[tenant_id] = task
        task.add_done_callback(lambda _t: self._refreshing.pop(tenant_id, None))
        return task

    async def _refresh_once(self, tenant_id: str) -> FallbackList:
        task = self._refreshing.get(tenant_id) or self._refresh_in_background(tenant_id)
        return await asyncio.shield(task)

    async def refresh(self, tenant_id: str) -> FallbackList:
        """Reload from the default deployment's popularity answer, else from the catalog."""
        categories, newest = await run_in_threadpool(self._catalog, tenant_id)
        items: tuple[FallbackItem, ...] = ()
        source = "catalog"
        model_failed = False
        try:
            routes = await run_in_threadpool(self._routes_of, tenant_id)
            target = routes.default
            if target is not None:
                answer = await self._models.predict(target, {"popular": True, "n": self._size})
                items = tuple(
                    FallbackItem(str(i["item_id"]), float(i.get("score", 0.0)), "popular")
                    for i in answer["items"]
                    if isinstance(i, dict) and "item_id" in i
                )
                source = "model"
        except (ModelUnavailable, Exception) as exc:  # any failure: the catalog answers instead
            model_failed = True
            log.info("fallback list of %s from the catalog: %s", tenant_id, exc)
        if not items:
            items = newest
            source = "catalog"
        fallback = FallbackList(items=items, categories=categories, source=source)
        # An empty answer replaces the list unless it comes from a failing model server: a
        # tenant with no deployment and no catalog (e.g. an id purged and onboarded again)
        # has nothing, and must not keep serving the previous owner's list.
        if items or not model_failed or tenant_id not in self._lists:
            self._lists[tenant_id] = (time.monotonic(), fallback)
        return self._lists[tenant_id][1]

    def _catalog(self, tenant_id: str) -> tuple[dict[str, tuple[str, ...]], tuple[FallbackItem, ...]]:
        limit = self._size * 5
        with self._sessions() as s:
            rows = s.execute(
                select(CatalogItem.item_id, CatalogItem.attributes)
                .where(CatalogItem.tenant_id == tenant_id)
                .order_by(CatalogItem.created_at.desc(), CatalogItem.item_id)
                .limit(limit)
            ).all()
        categories: dict[str, tuple[str, ...]] = {}
        for item_id, attributes in rows:
            cats: list[str] = []
            for name in CATEGORY_FIELDS:
                value = (attributes or {}).get(name)
                if isinstance(value, str):
                    cats.append(value)
                elif isinstance(value, list):
                    cats.extend(v for v in value if isinstance(v, str))
            categories[item_id] = tuple(cats)
        n = min(self._size, len(rows))
        newest = tuple(
            FallbackItem(item_id, round(1.0 - i / max(n, 1), 6), "new in the catalog")
            for i, (item_id, _) in enumerate(rows[:n])
        )
        return categories, newest
