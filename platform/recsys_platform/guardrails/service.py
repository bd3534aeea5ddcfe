"""Guardrail sets of a tenant (control plane), validated when written."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.engine import transaction
from recsys_platform.db.models import GuardrailSetRow
from recsys_platform.errors import FieldError, NotFound
from recsys_platform.guardrails.schemas import GuardrailSet, GuardrailSetPublic
from recsys_platform.tenancy.lookup import active_tenant


def _public(row: GuardrailSetRow) -> GuardrailSetPublic:
    return GuardrailSetPublic(
        **GuardrailSet.model_validate(row.rules).model_dump(),
        tenant_id=row.tenant_id,
        surface=row.surface,
        updated_at=row.updated_at,
    )


class GuardrailService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def put(self, tenant_id: str, surface: str, rules: GuardrailSet) -> GuardrailSetPublic:
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = s.get(GuardrailSetRow, (tenant_id, surface))
            if row is None:
                row = GuardrailSetRow(tenant_id=tenant_id, surface=surface)
                s.add(row)
            row.rules = rules.model_dump(mode="json")
            s.flush()
            return _public(row)

    def get(self, tenant_id: str, surface: str) -> GuardrailSetPublic:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            row = s.get(GuardrailSetRow, (tenant_id, surface))
            if row is None:
                raise NotFound(f"no guardrails on surface '{surface}'", [FieldError("surface", "none set")])
            return _public(row)

    def list(self, tenant_id: str) -> list[GuardrailSetPublic]:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            rows = s.scalars(
                select(GuardrailSetRow)
                .where(GuardrailSetRow.tenant_id == tenant_id)
                .order_by(GuardrailSetRow.surface)
            )
            return [_public(r) for r in rows]

    def delete(self, tenant_id: str, surface: str) -> None:
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = s.get(GuardrailSetRow, (tenant_id, surface))
            if row is None:
                raise NotFound(f"no guardrails on surface '{surface}'", [FieldError("surface", "none set")])
            s.delete(row)
