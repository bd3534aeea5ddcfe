"""Policies of a tenant (control plane): settings per surface and their learning state."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.config import PolicyConfig, PolicyPublic
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import BanditDecision, BanditPolicy
from recsys_platform.errors import FieldError, NotFound
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
