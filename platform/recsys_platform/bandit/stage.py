"""The bandit stage of the gateway: after ranking (model server or fallback list), before the
impression. Called from one place (``POST /v1/recommendations``).

Mode ``off`` (every tenant without a policy row) costs one dict lookup. Policies, catalog item
features and new checkpoints are loaded by a background thread (never on the request path);
a checkpoint that does not load is refused and counted, and the previous policy keeps serving.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.config import PolicyConfig
from recsys_platform.bandit.features import ItemFeatures, context_tokens, item_features, rank_tokens, token
from recsys_platform.bandit.policy import Policy, PolicyInvalid, Slot, decision_payload
from recsys_platform.db.models import BanditPolicy, CatalogItem, Tenant

log = logging.getLogger(__name__)


class CheckpointSource(Protocol):
    def fetch(self, tenant_id: str, surface: str, version: str) -> bytes: ...


@dataclass(frozen=True)
class Ranked:
    """One item of the ranked list the stage reorders."""

    item_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class BanditDecision:
    """The stage's answer: the new order with each item's presentation variant, and the logged
    decision (actions, chosen slots, probabilities)."""

    order: list[int]
    """Indexes into the ranked list, in served order."""
    presentations: list[str | None]
    """Presentation variant per served item (same order)."""
    payload: dict[str, Any]


@dataclass
class _Live:
    config: PolicyConfig
    policy: Policy
    version: str | None
    model: bytes | None = None


@dataclass
class _Catalog:
    items: dict[str, ItemFeatures] = field(default_factory=dict)
    loaded_at: float = 0.0


class BanditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "recsys_bandit_decisions_total",
            "Slates decided by a bandit policy, by tenant, surface and mode.",
            ["tenant", "surface", "mode"],
            registry=registry,
        )
        self.checkpoints = Counter(
            "recsys_bandit_checkpoint_loads_total",
            "Policy checkpoints the gateway loaded (ok) or refused (invalid, unavailable).",
            ["tenant", "outcome"],
            registry=registry,
        )


class BanditStage:
    """Tenant and surface -> the live policy; ``decide`` reorders a ranked list."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        checkpoints: CheckpointSource | None,
        metrics: BanditMetrics,
        *,
        refresh_seconds: float = 5.0,
        catalog_refresh_seconds: float = 60.0,
        clock: Any = None,
    ) -> None:
        self._sessions = sessions
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._refresh_s = refresh_seconds
        self._catalog_refresh_s = catalog_refresh_seconds
        self._live: dict[tuple[str, str], _Live] = {}
        self._catalogs: dict[str, _Catalog] = {}
        self._rng = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- background ------------------------------------------------------------------------

    def start(self) -> None:
        """Load what is there now (a database not reachable yet is retried by the thread)."""
        try:
            self.refresh()
        except Exception:
            log.warning("bandit policies not loaded at start; retrying in the background", exc_info=True)
        self._thread = threading.Thread(target=self._loop, name="bandit-refresh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.refresh()
            except Exception:  # the database or MLflow is away: keep serving what is loaded
                log.warning("bandit policy refresh failed", exc_info=True)

    def refresh(self) -> None:
        """Load policy settings, new checkpoints and the catalogs of tenants with a policy on."""
        import time

        with self._sessions() as s:
            rows = list(s.scalars(select(BanditPolicy)))
        live: dict[tuple[str, str], _Live] = {}
        for row in rows:
            try:
                config = PolicyConfig.model_validate(row.config)
            except ValueError:  # validated when written; a bad row never stops the other tenants
                log.error("policy %s/%s does not validate; served as off", row.tenant_id, row.surface)
                continue
            if config.mode == "off":
                continue
            key = (row.tenant_id, row.surface)
            live[key] = self._updated(key, config, row.checkpoint_version)
        for tenant_id in {k[0] for k in live}:
            catalog = self._catalogs.get(tenant_id)
            if catalog is None or time.monotonic() - catalog.loaded_at > self._catalog_refresh_s:
                self._catalogs[tenant_id] = self._load_catalog(tenant_id)
        self._live = live  # one assignment: the request path sees the old or the new dict

    def _updated(self, key: tuple[str, str], config: PolicyConfig, version: str | None) -> _Live:
        current = self._live.get(key)
        if current is not None and current.version == version:
            if current.config.exploration == config.exploration:
                current.config = config
                return current
            return _Live(config, Policy(config.exploration, current.model, version), version, current.model)
        if version is None or self._checkpoints is None:
            return _Live(config, Policy(config.exploration), None)
        try:
            model = self._checkpoints.fetch(key[0], key[1], version)
            policy = Policy(config.exploration, model, version)
        except PolicyInvalid as exc:
            self._metrics.checkpoints.labels(key[0], "invalid").inc()
            log.error("policy checkpoint %s of %s/%s refused: %s", version, key[0], key[1], exc)
            return current or _Live(config, Policy(config.exploration), None)
        except Exception as exc:
            self._metrics.checkpoints.labels(key[0], "unavailable").inc()
            log.warning("policy checkpoint %s of %s/%s not fetched: %s", version, key[0], key[1], exc)
            return current or _Live(config, Policy(config.exploration), None)
        self._metrics.checkpoints.labels(key[0], "ok").inc()
        log.info("policy %s/%s now serves checkpoint %s", key[0], key[1], version)
        return _Live(config, policy, version, model)

    def _load_catalog(self, tenant_id: str) -> _Catalog:
        import time

        with self._sessions() as s:
            tenant = s.get(Tenant, tenant_id)
            fields = (tenant.catalog_schema or {}).get("fields", []) if tenant else []
            types = {f["name"]: f["type"] for f in fields}
            rows = s.execute(
                select(CatalogItem.item_id, CatalogItem.attributes).where(CatalogItem.tenant_id == tenant_id)
            ).all()
        items = {item_id: item_features(item_id, attrs or {}, types) for item_id, attrs in rows}
        return _Catalog(items, time.monotonic())

    def enabled(self, tenant_id: str, surface: str) -> bool:
        """Whether a policy (apprentice or online) runs on the tenant's surface."""
        return (tenant_id, surface) in self._live

    def policy_version(self, tenant_id: str, surface: str) -> str | None:
        live = self._live.get((tenant_id, surface))
        return live.version if live else None

    # -- request path ----------------------------------------------------------------------

    def decide(
        self, tenant_id: str, surface: str, user_id: str, context: Mapping[str, Any], ranked: Sequence[Ranked]
    ) -> BanditDecision | None:
        """The slate order and presentation variants, or None when the policy is off."""
        live = self._live.get((tenant_id, surface))
        if live is None or not ranked:
            return None
        config = live.config
        catalog = self._catalogs.get(tenant_id) or _Catalog()
        actions: list[dict[str, Any]] = []
        for pos, item in enumerate(ranked[: config.candidates]):
            feats = catalog.items.get(item.item_id) or ItemFeatures(token("item", item.item_id))
            for variant_id, variant_tokens in feats.variants or ((None, ""),):
                actions.append(
                    {
                        "item": item.item_id,
                        "variant": variant_id,
                        "I": feats.tokens,
                        "V": variant_tokens,
                        "R": rank_tokens(pos),
                    }
                )
        context_line = context_tokens(user_id, context, self._clock())
        slots = min(config.slots, len(ranked), config.candidates)
        if config.mode == "online":
            chosen = live.policy.choose(context_line, actions, slots, self._rng)
        else:  # apprentice: the ranker's order and each item's first variant, with probability 1
            first: dict[str, int] = {}
            for i, a in enumerate(actions):
                first.setdefault(a["item"], i)
            chosen = [Slot(first[item.item_id], 1.0) for item in ranked[:slots]]
        index = {item.item_id: i for i, item in enumerate(ranked)}
        order = [index[actions[s.action]["item"]] for s in chosen]
        presentations: list[str | None] = [actions[s.action]["variant"] for s in chosen]
        placed = set(order)
        for i, item in enumerate(ranked):
            if i not in placed:
                order.append(i)
                known = catalog.items.get(item.item_id)
                presentations.append(known.variants[0][0] if known and known.variants else None)
        self._metrics.decisions.labels(tenant_id, surface, config.mode).inc()
        payload = decision_payload(config.mode, live.version, context_line, actions, chosen)
        payload["wait_seconds"] = config.reward.wait_seconds
        return BanditDecision(order, presentations, payload)
