"""Policies of a tenant (control plane): settings per surface and their learning state."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.config import PolicyConfig, PolicyPublic
from recsys_platform.bandit.loop import catalog_durations
from recsys_platform.bandit.ope import (
    CandidatePolicy,
    EvaluationRequest,
    EvaluationResult,
    PolicyFn,
    evaluate,
    ranker_policy,
    samples_of,
    uniform_policy,
    vw_policy,
)
from recsys_platform.bandit.policy import Policy, PolicyInvalid
from recsys_platform.bandit.stage import CheckpointSource
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import BanditDecision, BanditPolicy
from recsys_platform.errors import FieldError, InvalidInput, NotFound
from recsys_platform.tenancy.lookup import active_tenant


def _public(row: BanditPolicy) -> PolicyPublic:
    return PolicyPublic(
        **PolicyConfig.model_validate(row.config).model_dump(),
        tenant_id=row.tenant_id,
        surface=row.surface,
        checkpoint_version=row.checkpoint_version,
        learned=row.learned,
        last_reward_at=row.last_reward_at,
        updated_at=row.updated_at,
    )


class PolicyService:
    """Every call names its tenant; a surface's policy is created by its first ``put``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def put(self, tenant_id: str, surface: str, config: PolicyConfig) -> PolicyPublic:
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = s.get(BanditPolicy, (tenant_id, surface))
            if row is None:
                row = BanditPolicy(
                    tenant_id=tenant_id, surface=surface, checkpoint_seq=0, next_seq=0, learned=0
                )
                s.add(row)
            row.config = config.model_dump(mode="json")
            s.flush()
            return _public(row)

    def get(self, tenant_id: str, surface: str) -> PolicyPublic:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            row = s.get(BanditPolicy, (tenant_id, surface))
            if row is None:
                raise NotFound(
                    f"no policy on surface '{surface}' (its mode is off)",
                    [FieldError("surface", "no policy configured")],
                )
            return _public(row)

    def list(self, tenant_id: str) -> list[PolicyPublic]:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            rows = s.scalars(
                select(BanditPolicy).where(BanditPolicy.tenant_id == tenant_id).order_by(BanditPolicy.surface)
            )
            return [_public(r) for r in rows]

    def delete(self, tenant_id: str, surface: str) -> None:
        """Remove the policy (mode off) and its pending decisions; checkpoints stay in MLflow."""
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = s.get(BanditPolicy, (tenant_id, surface))
            if row is None:
                raise NotFound(
                    f"no policy on surface '{surface}'", [FieldError("surface", "no policy configured")]
                )
            s.delete(row)
            for d in s.scalars(
                select(BanditDecision).where(
                    BanditDecision.tenant_id == tenant_id, BanditDecision.surface == surface
                )
            ):
                s.delete(d)


class PolicyEvaluator:
    """``POST .../policies/{surface}/evaluate``: off-policy estimates from the tenant's own log
    (checkpoints fetched by the tenant's own registered model name, never a caller's URI)."""

    def __init__(self, sessions: sessionmaker[Session], checkpoints: CheckpointSource) -> None:
        self._sessions = sessions
        self._checkpoints = checkpoints

    def evaluate(self, tenant_id: str, surface: str, request: EvaluationRequest) -> EvaluationResult:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            row = s.get(BanditPolicy, (tenant_id, surface))
            if row is None:
                raise NotFound(
                    f"no policy on surface '{surface}'", [FieldError("surface", "no policy configured")]
                )
            config = PolicyConfig.model_validate(row.config)
            serving = row.checkpoint_version
            logged = list(
                s.execute(
                    select(BanditDecision.decision, BanditDecision.rewards)
                    .where(
                        BanditDecision.tenant_id == tenant_id,
                        BanditDecision.surface == surface,
                        BanditDecision.closed.is_(True),
                    )
                    .order_by(BanditDecision.seq.desc())
                    .limit(request.limit)
                )
            )
            watched = {i for _, r in logged for i, sig in (r or {}).items() if "watch" in sig}
            durations = catalog_durations(s, tenant_id, watched, config.reward.duration_field)
        decisions = [(d, r or {}) for d, r in logged if d is not None]
        samples = samples_of(decisions, config.reward, durations, request.first_slot_only)
        if not samples:
            raise InvalidInput(
                f"no closed decisions on surface '{surface}' to evaluate yet",
                [FieldError("surface", "no logged decisions with rewards")],
            )
        results = []
        for i, candidate in enumerate(request.candidates):
            results.append(
                evaluate(
                    candidate.name, samples, self._policy(tenant_id, surface, i, candidate, config, serving)
                )
            )
        return EvaluationResult(
            tenant_id=tenant_id,
            surface=surface,
            decisions=len(decisions),
            samples=len(samples),
            logged_reward=sum(s.reward for s in samples) / len(samples),
            candidates=results,
        )

    def _policy(
        self,
        tenant_id: str,
        surface: str,
        index: int,
        candidate: CandidatePolicy,
        config: PolicyConfig,
        serving: str | None,
    ) -> PolicyFn:
        if candidate.kind == "ranker":
            return ranker_policy
        if candidate.kind == "uniform":
            return uniform_policy
        version = candidate.version or serving
        exploration = config.exploration if candidate.exploration is None else candidate.exploration
        if version is None:
            return vw_policy(Policy(exploration))  # untrained: what serves before the first checkpoint
        try:
            model = self._checkpoints.fetch(tenant_id, surface, version)
        except Exception as exc:
            raise NotFound(
                f"checkpoint {version} of the policy on '{surface}' not found: {exc}",
                [FieldError(f"candidates.{index}.version", "unknown checkpoint")],
            ) from None
        try:
            return vw_policy(Policy(exploration, model, version))
        except PolicyInvalid as exc:
            raise InvalidInput(
                str(exc), [FieldError(f"candidates.{index}.version", "not a policy checkpoint")]
            ) from None
