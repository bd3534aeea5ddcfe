"""Experiments over ``Experiment`` rows: create, start, stop, results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.engine import transaction
from recsys_platform.db.models import Deployment, Experiment, ExperimentVariantStats, utcnow
from recsys_platform.errors import Conflict, FieldError, InvalidInput, NotFound
from recsys_platform.experiments.schemas import (
    ExperimentCreate,
    ExperimentPublic,
    ExperimentResults,
    ExperimentUpdate,
    VariantResult,
    VariantSpec,
)
from recsys_platform.experiments.stats import two_proportion_p_value, wilson_interval
from recsys_platform.tenancy.lookup import active_tenant

ALPHA = 0.05


def to_public(row: Experiment) -> ExperimentPublic:
    return ExperimentPublic(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        surface=row.surface,
        status=row.status,
        variants=[VariantSpec.model_validate(v) for v in row.variants],
        attribution_window_seconds=row.attribution_window_seconds,
        created_at=row.created_at,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


class ExperimentService:
    """Experiments of one tenant at a time; every call names its tenant."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, tenant_id: str, body: ExperimentCreate) -> ExperimentPublic:
        """Create a ``draft``; every variant's deployment must exist for this tenant."""
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            wanted = {v.deployment for v in body.variants}
            known = set(
                s.scalars(
                    select(Deployment.name).where(
                        Deployment.tenant_id == tenant_id, Deployment.name.in_(wanted)
                    )
                )
            )
            missing = [
                FieldError(f"variants.{i}.deployment", f"no deployment '{v.deployment}' in this tenant")
                for i, v in enumerate(body.variants)
                if v.deployment not in known
            ]
            if missing:
                raise InvalidInput("unknown deployment in variants", missing)
            if s.scalar(
                select(Experiment.id).where(Experiment.tenant_id == tenant_id, Experiment.name == body.name)
            ):
                raise Conflict(
                    f"experiment '{body.name}' already exists",
                    [FieldError("name", "already used in this tenant")],
                )
            row = Experiment(
                id=uuid.uuid4().hex,
                tenant_id=tenant_id,
                name=body.name,
                surface=body.surface,
                status="draft",
                variants=[v.model_dump() for v in body.variants],
                attribution_window_seconds=body.attribution_window_seconds,
                created_at=utcnow(),
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise Conflict(
                    f"experiment '{body.name}' already exists",
                    [FieldError("name", "already used in this tenant")],
                ) from None
            return to_public(row)

    def list(self, tenant_id: str) -> list[ExperimentPublic]:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            rows = s.scalars(
                select(Experiment).where(Experiment.tenant_id == tenant_id).order_by(Experiment.created_at)
            )
            return [to_public(r) for r in rows]

    def get(self, tenant_id: str, name: str) -> ExperimentPublic:
        with self._sessions() as s:
            return to_public(self._row(s, tenant_id, name))

    def start(self, tenant_id: str, name: str) -> ExperimentPublic:
        """``draft`` -> ``running``; refuses a second running experiment on the same surface."""
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id, for_update=True)  # serialises concurrent starts per tenant
            row = self._row(s, tenant_id, name)
            if row.status == "running":
                return to_public(row)
            if row.status == "stopped":
                raise Conflict(
                    f"experiment '{name}' was stopped; create a new one to run again",
                    [FieldError("status", "stopped experiments cannot restart")],
                )
            other = s.scalar(
                select(Experiment.name).where(
                    Experiment.tenant_id == tenant_id,
                    Experiment.surface == row.surface,
                    Experiment.status == "running",
                    Experiment.id != row.id,
                )
            )
            if other is not None:
                raise Conflict(
                    f"experiment '{other}' is already running on surface '{row.surface}'; stop it first",
                    [FieldError("surface", f"'{other}' is running on it")],
                )
            row.status = "running"
            row.started_at = utcnow()
            return to_public(row)

    def stop(self, tenant_id: str, name: str) -> ExperimentPublic:
        """``running`` or ``draft`` -> ``stopped`` (idempotent)."""
        with transaction(self._sessions) as s:
            row = self._row(s, tenant_id, name)
            if row.status != "stopped":
                row.status = "stopped"
                row.stopped_at = utcnow()
            return to_public(row)

    def update(self, tenant_id: str, name: str, body: ExperimentUpdate) -> ExperimentPublic:
        """Change the fields ``body`` sets (variants/surface: drafts only; 409 otherwise)."""
        changes = body.model_dump(exclude_unset=True)
        with transaction(self._sessions) as s:
            row = self._row(s, tenant_id, name)
            frozen: list[str] = [f for f in ("variants", "surface") if f in changes and row.status != "draft"]
            if frozen or (changes and row.status == "stopped"):
                fields = frozen or sorted(changes)
                raise Conflict(
                    f"experiment '{name}' is {row.status}; {', '.join(fields)} can change only "
                    + ("while it is a draft" if frozen else "until it stops"),
                    [FieldError(f, f"experiment is {row.status}") for f in fields],
                )
            if body.variants is not None:
                self._check_deployments(s, tenant_id, body.variants)
                row.variants = [v.model_dump() for v in body.variants]
            if body.surface is not None:
                row.surface = body.surface
            if body.attribution_window_seconds is not None:
                row.attribution_window_seconds = body.attribution_window_seconds
            return to_public(row)

    def delete(self, tenant_id: str, name: str) -> None:
        """Remove a draft or stopped experiment and its counts (409 while it runs)."""
        with transaction(self._sessions) as s:
            row = self._row(s, tenant_id, name)
            if row.status == "running":
                raise Conflict(
                    f"experiment '{name}' is running; stop it first",
                    [FieldError("status", "running experiments cannot be deleted")],
                )
            s.delete(row)

    @staticmethod
    def _check_deployments(s: Session, tenant_id: str, variants: Sequence[VariantSpec]) -> None:
        wanted = {v.deployment for v in variants}
        known = set(
            s.scalars(
                select(Deployment.name).where(Deployment.tenant_id == tenant_id, Deployment.name.in_(wanted))
            )
        )
        missing = [
            FieldError(f"variants.{i}.deployment", f"no deployment '{v.deployment}' in this tenant")
            for i, v in enumerate(variants)
            if v.deployment not in known
        ]
        if missing:
            raise InvalidInput("unknown deployment in variants", missing)

    def results(self, tenant_id: str, name: str) -> ExperimentResults:
        """Per variant: impressions, clicks, CTR with a Wilson 95% interval, and a two-proportion
        z-test against the control (the first variant)."""
        with self._sessions() as s:
            row = self._row(s, tenant_id, name)
            stats = {
                st.variant: st
                for st in s.scalars(
                    select(ExperimentVariantStats).where(ExperimentVariantStats.experiment_id == row.id)
                )
            }
            variants = [VariantSpec.model_validate(v) for v in row.variants]
            return build_results(
                row.name,
                row.status,
                variants,
                {v.name: (_n(stats, v.name, "impressions"), _n(stats, v.name, "clicks")) for v in variants},
            )

    @staticmethod
    def _row(s: Session, tenant_id: str, name: str) -> Experiment:
        active_tenant(s, tenant_id)
        row = s.scalar(select(Experiment).where(Experiment.tenant_id == tenant_id, Experiment.name == name))
        if row is None:
            raise NotFound(f"experiment '{name}' not found", [FieldError("name", "unknown experiment")])
        return row


def _n(stats: dict[str, ExperimentVariantStats], variant: str, attr: str) -> int:
    st = stats.get(variant)
    return int(getattr(st, attr) or 0) if st is not None else 0


def build_results(
    name: str, status: str, variants: Sequence[VariantSpec], counts: dict[str, tuple[int, int]]
) -> ExperimentResults:
    """Results from per-variant (impressions, clicks); the first variant is the control."""
    control = variants[0]
    c_imp, c_clicks = counts.get(control.name, (0, 0))
    c_ctr = c_clicks / c_imp if c_imp else 0.0
    out = []
    for i, v in enumerate(variants):
        imp, clicks = counts.get(v.name, (0, 0))
        ctr = clicks / imp if imp else 0.0
        low, high = wilson_interval(clicks, imp)
        p = None if i == 0 else two_proportion_p_value(c_clicks, c_imp, clicks, imp)
        out.append(
            VariantResult(
                variant=v.name,
                deployment=v.deployment,
                weight=v.weight,
                impressions=imp,
                clicks=clicks,
                ctr=ctr,
                ctr_ci_low=low,
                ctr_ci_high=high,
                is_control=i == 0,
                lift=None if i == 0 or c_ctr == 0 else ctr / c_ctr - 1,
                p_value=p,
                significant=p is not None and p < ALPHA,
            )
        )
    return ExperimentResults(
        experiment=name,
        status=status,
        control=control.name,
        alpha=ALPHA,
        variants=out,
    )
