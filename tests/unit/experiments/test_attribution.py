"""Click attribution: each impression and its first in-window click count once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from recsys_platform.db import migrate
from recsys_platform.db.engine import build_engine, session_factory, transaction
from recsys_platform.db.models import Experiment, ExperimentImpression, ExperimentVariantStats, Tenant
from recsys_platform.events.schemas import Event
from recsys_platform.gateway.impressions import Impression
from recsys_platform.stream.attribution import Attribution
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = build_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        s.add(
            Tenant(
                id="acme", display_name="acme", use_case="news", quotas={}, retention={}, catalog_schema={}
            )
        )
        s.flush()
        s.add(Experiment(id="exp", tenant_id="acme", name="e", surface="default", status="running",
                         variants=[], attribution_window_seconds=600))  # fmt: skip
    return factory


def imp(rec: str, variant: str = "a", at: datetime = T0, experiment_id: str | None = "exp") -> Impression:
    return Impression(
        recommendation_id=rec, tenant_id="acme", user_id="u", session_id=None, surface="default",
        experiment="e", experiment_id=experiment_id, variant=variant, deployment="d", model_version="1",
        items=["i1"], positions=[1], propensities=[0.5], fallback=False, timestamp=at,
        attribution_window_seconds=600,
    )  # fmt: skip


def click(rec: str, at: datetime = T0 + timedelta(seconds=5), kind: str = "click") -> tuple[str, Event]:
    return "acme", Event(
        event_id=uuid.uuid4().hex, user_id="u", item_id="i1", type=kind, timestamp=at,
        recommendation_id=rec,
    )  # fmt: skip


def stats(sessions: sessionmaker[Session]) -> dict[str, tuple[int, int]]:
    with sessions() as s:
        return {r.variant: (r.impressions, r.clicks) for r in s.scalars(select(ExperimentVariantStats))}


def test_impressions_and_clicks_count_once_across_redelivery(sessions: sessionmaker[Session]) -> None:
    attribution = Attribution(sessions)
    batch = ([imp("r1"), imp("r2", "b"), imp("r3", "b")], [click("r1"), click("r2"), click("r2")])
    first = attribution.apply(*batch)
    assert (first.impressions, first.clicks) == (3, 2)
    again = attribution.apply(*batch)  # the same batch redelivered
    assert (again.impressions, again.clicks) == (0, 0)
    assert stats(sessions) == {"a": (1, 1), "b": (2, 1)}


def test_click_before_its_impression_is_joined_later(sessions: sessionmaker[Session]) -> None:
    attribution = Attribution(sessions)
    attribution.apply([], [click("early")])
    assert stats(sessions) == {}
    attribution.apply([imp("early")], [])
    assert stats(sessions) == {"a": (1, 1)}


def test_clicks_outside_the_window_other_types_and_unknown_experiments_do_not_count(
    sessions: sessionmaker[Session],
) -> None:
    attribution = Attribution(sessions)
    attribution.apply([imp("r1"), imp("gone", experiment_id="deleted")], [])
    attribution.apply([], [click("r1", at=T0 + timedelta(seconds=601)), click("r1", kind="view")])
    assert stats(sessions) == {"a": (1, 0)}


def test_expired_rows_are_purged(sessions: sessionmaker[Session]) -> None:
    now = T0 + timedelta(days=2)
    attribution = Attribution(sessions, clock=lambda: now)
    attribution.apply([imp("old"), imp("new", at=now)], [])
    assert attribution.purge() == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExperimentImpression)) == 1
