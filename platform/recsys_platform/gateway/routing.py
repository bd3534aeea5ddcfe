"""Where a tenant's recommendation requests go: its deployments and running experiments,
read from the control-plane database and cached for a short TTL (off the hot path)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import Deployment, Experiment
from recsys_platform.deploy.tokens import deployment_token

#: Deployment statuses that can take traffic.
READY_STATUSES = frozenset({"ready", "running", "serving"})


def predict_url(endpoint: str, model_name: str) -> str:
    """The V1 predict URL of a deployment: ``endpoint`` is a base URL (KServe's status.url or a
    local ``http://host:port``) or already a full ``...:predict`` URL."""
    if endpoint.endswith(":predict"):
        return endpoint
    return f"{endpoint.rstrip('/')}/v1/models/{model_name}:predict"


@dataclass(frozen=True)
class Target:
    """A deployment that can be called."""

    deployment: str
    url: str
    model_version: str | None = None
    token: str | None = None
    """The deployment's model-server token (sent as ``X-Recsys-Model-Token``)."""


@dataclass(frozen=True)
class VariantRoute:
    name: str
    deployment: str
    weight: float
    target: Target | None  # None: the deployment is missing or not ready (fallback serves it)


@dataclass(frozen=True)
class ExperimentRoute:
    id: str
    name: str
    surface: str
    attribution_window_seconds: int
    variants: tuple[VariantRoute, ...]

    @property
    def weights(self) -> list[tuple[str, float]]:
        return [(v.name, v.weight) for v in self.variants]

    def variant(self, name: str) -> VariantRoute:
        return next(v for v in self.variants if v.name == name)


@dataclass(frozen=True)
class TenantRoutes:
    """A snapshot of one tenant's routing."""

    targets: dict[str, Target] = field(default_factory=dict)
    experiments: dict[str, ExperimentRoute] = field(default_factory=dict)  # by surface

    @property
    def default(self) -> Target | None:
        """The deployment named ``default``, else the only ready one, else None."""
        if "default" in self.targets:
            return self.targets["default"]
        if len(self.targets) == 1:
            return next(iter(self.targets.values()))
        return None


class RoutingTable:
    """Tenant -> :class:`TenantRoutes`, reloaded after ``ttl_seconds``."""

    def __init__(
        self, sessions: sessionmaker[Session], ttl_seconds: float, token_secret: str | None = None
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._token_secret = token_secret
        self._cache: dict[str, tuple[float, TenantRoutes]] = {}
        self._lock = threading.Lock()

    def cached(self, tenant_id: str) -> TenantRoutes | None:
        """The cached snapshot if fresh (no I/O), else None."""
        hit = self._cache.get(tenant_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        return None

    def routes(self, tenant_id: str) -> TenantRoutes:
        """The tenant's routes, from the cache or the database (blocking I/O on a miss)."""
        hit = self.cached(tenant_id)
        if hit is not None:
            return hit
        routes = self._load(tenant_id)
        with self._lock:
            self._cache[tenant_id] = (time.monotonic(), routes)
        return routes

    def invalidate(self, tenant_id: str | None = None) -> None:
        with self._lock:
            if tenant_id is None:
                self._cache.clear()
            else:
                self._cache.pop(tenant_id, None)

    def _load(self, tenant_id: str) -> TenantRoutes:
        with self._sessions() as s:
            deployments = s.scalars(select(Deployment).where(Deployment.tenant_id == tenant_id)).all()
            running = s.scalars(
                select(Experiment).where(Experiment.tenant_id == tenant_id, Experiment.status == "running")
            ).all()
        secret = self._token_secret
        targets = {
            d.name: Target(
                d.name,
                predict_url(d.endpoint, d.name),
                d.resolved_version or d.model_version,
                deployment_token(secret, tenant_id, d.name) if secret else None,
            )
            for d in deployments
            if d.endpoint and d.status in READY_STATUSES
        }
        experiments: dict[str, ExperimentRoute] = {}
        for e in sorted(running, key=lambda e: e.started_at or e.created_at):
            experiments[e.surface] = ExperimentRoute(
                id=e.id,
                name=e.name,
                surface=e.surface,
                attribution_window_seconds=e.attribution_window_seconds,
                variants=tuple(
                    VariantRoute(
                        name=str(v["name"]),
                        deployment=str(v["deployment"]),
                        weight=float(v["weight"]),
                        target=targets.get(str(v["deployment"])),
                    )
                    for v in e.variants
                ),
            )
        return TenantRoutes(targets=targets, experiments=experiments)
