"""Join clicks to impressions: per experiment variant, impressions and clicked impressions.

State lives in the control-plane database (``experiment_impressions``), written in the
same transaction as the counters (``experiment_variant_stats``):

* an impression is counted only when its row is inserted (a redelivered impression finds
  the row and counts nothing);
* a click is counted only when it flips the row's ``click_counted`` mark (a second click
  on the same list, or a redelivered click, counts nothing);
* a click that arrives before its impression (different topics, no order between them)
  leaves a row with ``clicked_at``; the impression completes it and counts both.

Why the database and not Redis: the counters already live there, so marks and counts
commit atomically (exactly once in effect across redelivery and restarts), embedded mode
has no Redis, and the row count is bounded by traffic x window (expired rows are purged).
The processor commits its offsets only after this transaction committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.engine import transaction
from recsys_platform.db.models import Experiment, ExperimentImpression, ExperimentVariantStats, utcnow
from recsys_platform.events.schemas import Event
from recsys_platform.experiments.impression_record import Impression

#: Event types that count as a click on a recommended list.
CLICK_TYPES = frozenset({"click"})
#: Rows are kept this long past their window, so late redeliveries still find them.
RETENTION_GRACE = timedelta(days=1)
#: Clock skew tolerated between the gateway (impression time) and clients (click time).
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class AttributionOutcome:
    impressions: int = 0
    clicks: int = 0
    ignored: int = 0


class Attribution:
    """Applies impressions and clicks of one polled batch in one transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        default_window_seconds: int = 1800,
        purge_every_seconds: float = 600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._default_window = timedelta(seconds=default_window_seconds)
        self._purge_every = purge_every_seconds
        self._last_purge = time.monotonic()
        self._clock = clock

    def apply(
        self, impressions: Sequence[Impression], clicks: Sequence[tuple[str, Event]]
    ) -> AttributionOutcome:
        """Count each impression and its first in-window click once; safe to call again with
        the same records (redelivery) and after a crash between commit and offset commit."""
        out = AttributionOutcome()
        relevant = [i for i in impressions if i.experiment_id and i.variant]
        out.ignored += len(impressions) - len(relevant)
        click_events = [(t, e) for t, e in clicks if e.type in CLICK_TYPES and e.recommendation_id]
        if not relevant and not click_events:
            self._maybe_purge()
            return out
        with transaction(self._sessions) as s:
            known = _existing_experiments(s, {i.experiment_id for i in relevant if i.experiment_id})
            for imp in relevant:
                if imp.experiment_id not in known:
                    out.ignored += 1
                    continue
                self._impression(s, imp, out)
            for tenant_id, event in click_events:
                self._click(s, tenant_id, event, out)
        self._maybe_purge()
        return out

    def _impression(self, s: Session, imp: Impression, out: AttributionOutcome) -> None:
        assert imp.experiment_id is not None and imp.variant is not None
        window = (
            timedelta(seconds=imp.attribution_window_seconds)
            if imp.attribution_window_seconds
            else self._default_window
        )
        row = s.get(ExperimentImpression, (imp.recommendation_id, imp.tenant_id))
        if row is not None and row.experiment_id is not None:
            return  # seen before: a redelivery
        if row is None:
            row = ExperimentImpression(
                recommendation_id=imp.recommendation_id, tenant_id=imp.tenant_id, click_counted=False
            )
            s.add(row)
        row.experiment_id = imp.experiment_id
        row.variant = imp.variant
        row.shown_at = imp.timestamp
        row.expires_at = imp.timestamp + window
        _bump(s, imp.experiment_id, imp.variant, impressions=1)
        out.impressions += 1
        if row.clicked_at is not None and _in_window(row.clicked_at, imp.timestamp, row.expires_at):
            row.click_counted = True
            _bump(s, imp.experiment_id, imp.variant, clicks=1, reward=1.0)
            out.clicks += 1
        s.flush()

    def _click(self, s: Session, tenant_id: str, event: Event, out: AttributionOutcome) -> None:
        assert event.recommendation_id is not None
        row = s.get(ExperimentImpression, (event.recommendation_id, tenant_id))
        if row is None:  # the impression has not arrived (yet): remember the click
            s.add(
                ExperimentImpression(
                    recommendation_id=event.recommendation_id,
                    tenant_id=tenant_id,
                    clicked_at=event.timestamp,
                    click_counted=False,
                    expires_at=event.timestamp + self._default_window,
                )
            )
            s.flush()
            return
        if row.experiment_id is None or row.variant is None or row.shown_at is None:
            if row.clicked_at is None or event.timestamp < row.clicked_at:
                row.clicked_at = event.timestamp
            return
        if row.click_counted or not _in_window(event.timestamp, row.shown_at, row.expires_at):
            out.ignored += 1
            return
        row.click_counted = True
        row.clicked_at = event.timestamp
        _bump(s, row.experiment_id, row.variant, clicks=1, reward=1.0)
        out.clicks += 1
        s.flush()

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < self._purge_every:
            return
        self._last_purge = time.monotonic()
        self.purge()

    def purge(self) -> int:
        """Delete rows whose window (plus a grace period) is over; returns how many."""
        cutoff = self._clock() - RETENTION_GRACE
        with transaction(self._sessions) as s:
            result = s.execute(delete(ExperimentImpression).where(ExperimentImpression.expires_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


def _in_window(clicked_at: datetime, shown_at: datetime, expires_at: datetime) -> bool:
    return shown_at - CLOCK_SKEW <= clicked_at <= expires_at


def _existing_experiments(s: Session, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(s.scalars(select(Experiment.id).where(Experiment.id.in_(ids))))


def _bump(
    s: Session, experiment_id: str, variant: str, impressions: int = 0, clicks: int = 0, reward: float = 0.0
) -> None:
    """Atomic increments (safe with several processor replicas); creates the row if missing."""
    stats = ExperimentVariantStats
    result = s.execute(
        update(stats)
        .where(stats.experiment_id == experiment_id, stats.variant == variant)
        .values(
            impressions=stats.impressions + impressions,
            clicks=stats.clicks + clicks,
            reward_sum=stats.reward_sum + reward,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 0:
        s.add(
            stats(
                experiment_id=experiment_id,
                variant=variant,
                impressions=impressions,
                clicks=clicks,
                reward_sum=reward,
                updated_at=utcnow(),
            )
        )
        s.flush()
