"""The guardrail stage of the gateway: after the bandit, on model and fallback lists alike.

A surface without a guardrail set costs one dict lookup. Sets and the catalog attributes the
rules read are loaded by a background thread; each rule counts the slates it changed
(``recsys_guardrail_changes_total``)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import CatalogItem, GuardrailSetRow
from recsys_platform.guardrails.engine import Slate, apply_guardrails
from recsys_platform.guardrails.schemas import GuardrailSet

log = logging.getLogger(__name__)
#: How many more candidates than ``n`` the gateway asks for when a surface has guardrails.
EXTRA_CANDIDATES = 20


class GuardrailStage:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: CollectorRegistry,
        *,
        refresh_seconds: float = 5.0,
        catalog_refresh_seconds: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._refresh_s = refresh_seconds
        self._catalog_refresh_s = catalog_refresh_seconds
        self._sets: dict[tuple[str, str], GuardrailSet] = {}
        self._catalogs: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.changes = Counter(
            "recsys_guardrail_changes_total",
            "Slates a guardrail rule changed, by tenant, surface and rule.",
            ["tenant", "surface", "rule"],
            registry=registry,
        )
        self.slates = Counter(
            "recsys_guardrail_slates_total",
            "Slates that went through a guardrail set, by tenant and surface.",
            ["tenant", "surface"],
            registry=registry,
        )

    def start(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.warning("guardrails not loaded at start; retrying in the background", exc_info=True)
        self._thread = threading.Thread(target=self._loop, name="guardrails-refresh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.refresh()
            except Exception:
                log.warning("guardrail refresh failed", exc_info=True)

    def refresh(self) -> None:
        with self._sessions() as s:
            rows = list(s.scalars(select(GuardrailSetRow)))
        sets: dict[tuple[str, str], GuardrailSet] = {}
        for row in rows:
            try:
                sets[(row.tenant_id, row.surface)] = GuardrailSet.model_validate(row.rules)
            except ValueError:  # validated at write time; a hand-edited row is skipped, not fatal
                log.error("guardrail set %s/%s does not validate; skipped", row.tenant_id, row.surface)
        for tenant_id in {k[0] for k in sets}:
            loaded = self._catalogs.get(tenant_id)
            if loaded is None or time.monotonic() - loaded[0] > self._catalog_refresh_s:
                with self._sessions() as s:
                    items = s.execute(
                        select(CatalogItem.item_id, CatalogItem.attributes).where(
                            CatalogItem.tenant_id == tenant_id
                        )
                    ).all()
                self._catalogs[tenant_id] = (time.monotonic(), {i: dict(a or {}) for i, a in items})
        self._sets = sets

    def candidates(self, tenant_id: str, surface: str, n: int) -> int:
        """How many candidates to ask the ranker for to serve ``n`` (more when rules may pull
        items into the slate)."""
        return n + EXTRA_CANDIDATES if (tenant_id, surface) in self._sets else n

    def apply(self, tenant_id: str, surface: str, items: list[str], n: int) -> Slate | None:
        rules = self._sets.get((tenant_id, surface))
        if rules is None:
            return None
        catalog = self._catalogs.get(tenant_id, (0.0, {}))[1]
        slate = apply_guardrails(rules, items, catalog, n)
        self.slates.labels(tenant_id, surface).inc()
        for label in slate.changed_by:
            self.changes.labels(tenant_id, surface, label).inc()
        return slate
