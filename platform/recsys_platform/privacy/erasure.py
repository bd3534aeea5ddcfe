"""Erasing one end user's data: the request record (audit), and the work across the stores.

The control plane records the request (``DELETE /v1/users/{id}``); the stream processor,
the one writer of the user's features, offline events and session state, carries it out
between two batches and records what it removed. Until the log's retention ends, events of
the user that were received before the request may still be in the event log: the
processor drops them (a replay cannot bring the user back); events received after the
request are new data and are kept.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.models import ExperimentImpression, UserErasure, utcnow
from recsys_platform.features.ports import UserFeatureStore
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.streaming.ports import ItemStatsStore

log = logging.getLogger(__name__)
#: How long an erasure keeps dropping the user's older events still in the log (>= retention).
DROP_WINDOW = timedelta(days=400)


class ErasurePublic(BaseModel):
    """One erasure request of an end user's data."""

    id: str
    user_id: str
    status: str
    requested_at: datetime
    completed_at: datetime | None
    removed: dict[str, Any]


def _public(row: UserErasure) -> ErasurePublic:
    return ErasurePublic(
        id=row.id,
        user_id=row.user_id,
        status="completed" if row.completed_at is not None else "pending",
        requested_at=row.requested_at,
        completed_at=row.completed_at,
        removed=dict(row.report or {}),
    )


class ErasureRequests:
    """The erasure records (the audit trail); the only writer of ``user_erasures``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def request(self, tenant_id: str, user_id: str, requested_by: str | None) -> ErasurePublic:
        """Record a request; a pending one of the same user is returned instead of a second."""
        with self._sessions.begin() as s:
            pending = s.scalars(
                select(UserErasure).where(
                    UserErasure.tenant_id == tenant_id,
                    UserErasure.user_id == user_id,
                    UserErasure.completed_at.is_(None),
                )
            ).first()
            if pending is not None:
                return _public(pending)
            row = UserErasure(
                id=f"era_{uuid.uuid4().hex[:20]}",
                tenant_id=tenant_id,
                user_id=user_id,
                requested_at=utcnow(),
                requested_by=requested_by,
                report={},
            )
            s.add(row)
            s.flush()
            log.info("user data erasure requested", extra={"tenant_id": tenant_id, "erasure_id": row.id})
            return _public(row)

    def of_user(self, tenant_id: str, user_id: str) -> list[ErasurePublic]:
        with self._sessions() as s:
            rows = s.scalars(
                select(UserErasure)
                .where(UserErasure.tenant_id == tenant_id, UserErasure.user_id == user_id)
                .order_by(UserErasure.requested_at)
            )
            return [_public(r) for r in rows]

    def pending(self, limit: int = 20) -> list[tuple[str, str, str]]:
        """(id, tenant, user) of requests not carried out yet, oldest first."""
        with self._sessions() as s:
            rows = s.execute(
                select(UserErasure.id, UserErasure.tenant_id, UserErasure.user_id)
                .where(UserErasure.completed_at.is_(None))
                .order_by(UserErasure.requested_at)
                .limit(limit)
            )
            return [(r.id, r.tenant_id, r.user_id) for r in rows]

    def complete(self, erasure_id: str, removed: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            row = s.get(UserErasure, erasure_id)
            if row is not None:
                row.completed_at, row.report = utcnow(), removed

    def cutoffs(self) -> dict[tuple[str, str], datetime]:
        """(tenant, user) -> latest request time, for requests within ``DROP_WINDOW``."""
        with self._sessions() as s:
            rows = s.execute(
                select(UserErasure.tenant_id, UserErasure.user_id, UserErasure.requested_at).where(
                    UserErasure.requested_at >= utcnow() - DROP_WINDOW
                )
            )
            out: dict[tuple[str, str], datetime] = {}
            for tenant_id, user_id, at in rows:
                key = (tenant_id, user_id)
                out[key] = max(at, out.get(key, at))
            return out


@dataclass
class Eraser:
    """Carries out erasure requests in the stores the stream processor writes."""

    requests: ErasureRequests
    sessions: sessionmaker[Session]
    features: UserFeatureStore
    offline: OfflineEventStore
    item_stats: ItemStatsStore | None = None
    refresh_seconds: float = 1.0

    def __post_init__(self) -> None:
        self._cutoffs: dict[tuple[str, str], datetime] = {}
        self._loaded_at = -1e9

    def erased(self, tenant_id: str, user_id: str, received_at: datetime) -> bool:
        """Whether an event received at ``received_at`` belongs to an erased user's past."""
        cutoff = self._cutoffs.get((tenant_id, user_id))
        return cutoff is not None and received_at <= cutoff

    def run_pending(self) -> int:
        """Carry out pending requests (at most every ``refresh_seconds``); returns how many.

        A store failure leaves the request pending; it is tried again next time.
        """
        now = time.monotonic()
        if now - self._loaded_at < self.refresh_seconds:
            return 0
        self._loaded_at = now
        self._cutoffs = self.requests.cutoffs()
        done = 0
        for erasure_id, tenant_id, user_id in self.requests.pending():
            try:
                removed = self.erase(tenant_id, user_id)
            except Exception:
                log.warning("erasure %s failed; it stays pending", erasure_id, exc_info=True)
                continue
            self.requests.complete(erasure_id, removed)
            log.info("user data erased", extra={"tenant_id": tenant_id, "erasure_id": erasure_id, **removed})
            done += 1
        return done

    def erase(self, tenant_id: str, user_id: str) -> dict[str, int]:
        """Remove the user's rows from every store; idempotent (a repeat finds nothing)."""
        state = self.features.read(tenant_id, user_id)
        events = self.offline.delete_user(tenant_id, user_id)
        online = self.features.delete(tenant_id, [user_id])
        sessions = {s for s in events.column("session_id").to_pylist() if s}
        sessions.add("u:" + user_id)  # events without a session id count under the user
        if state is not None and state.session_id:
            sessions.add(state.session_id)
        held = self.item_stats.delete_sessions(tenant_id, sorted(sessions)) if self.item_stats else 0
        recommendation_ids = {r for r in events.column("recommendation_id").to_pylist() if r}
        attribution = 0
        if recommendation_ids:
            with self.sessions.begin() as s:
                attribution = s.execute(  # type: ignore[attr-defined]
                    delete(ExperimentImpression).where(
                        ExperimentImpression.tenant_id == tenant_id,
                        ExperimentImpression.recommendation_id.in_(sorted(recommendation_ids)),
                    )
                ).rowcount
        return {
            "offline_events": events.num_rows,
            "online_rows": online,
            "sessions": held,
            "attribution_rows": attribution,
        }
