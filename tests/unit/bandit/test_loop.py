"""The reward loop's bookkeeping on a migrated SQLite control-plane DB (real VW learner, an
in-memory checkpoint store): exactly once across redelivery and restart, wait window, defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from recsys_platform.bandit.checkpoints import CheckpointLineage
from recsys_platform.bandit.config import PolicyConfig, RewardDefinition
from recsys_platform.bandit.features import context_tokens, rank_tokens
from recsys_platform.bandit.loop import BanditLoop, BanditLoopMetrics, slot_rewards
from recsys_platform.bandit.policy import Policy, Slot, decision_payload
from recsys_platform.bandit.service import PolicyService
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import BanditDecision
from recsys_platform.events.schemas import Event
from recsys_platform.experiments.impression_record import Impression

from tests.integration.event_path import Platform, sqlite_url

TENANT = "loop-shop"
NOW = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}
        self.lineage: dict[str, CheckpointLineage] = {}

    def register(self, model: bytes, lineage: CheckpointLineage) -> str:
        version = str(len(self.models) + 1)
        self.models[version] = model
        self.lineage[version] = lineage
        return version

    def fetch(self, tenant_id: str, surface: str, version: str) -> bytes:
        return self.models[version]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    p = Platform(sqlite_url(tmp_path), "t", [])
    p.onboard(TENANT)
    PolicyService(p.sessions).put(
        TENANT, "home", PolicyConfig(mode="online", reward=RewardDefinition(wait_seconds=60, skip=-0.5))
    )
    return p


def _actions(items: list[str]) -> list[dict[str, str]]:
    return [
        {"item": i, "variant": "", "I": f"item={i}", "V": "", "R": rank_tokens(k)}
        for k, i in enumerate(items)
    ]


def _impression(rec_id: str, chosen: list[int]) -> Impression:
    actions = _actions(["a", "b", "c"])
    payload = decision_payload(
        "online", None, context_tokens("u1", {}, NOW), actions, [Slot(c, 0.5) for c in chosen]
    )
    payload["wait_seconds"] = 60
    return Impression(
        recommendation_id=rec_id,
        tenant_id=TENANT,
        user_id="u1",
        session_id=None,
        surface="home",
        experiment=None,
        experiment_id=None,
        variant=None,
        deployment=None,
        model_version=None,
        items=[actions[c]["item"] for c in chosen],
        positions=list(range(1, len(chosen) + 1)),
        propensities=[1.0] * len(chosen),
        fallback=True,
        timestamp=NOW,
        bandit=payload,
    )


def _event(
    rec_id: str, item: str, kind: str, at: datetime = NOW, event_id: str | None = None
) -> tuple[str, Event]:
    return TENANT, Event(
        event_id=event_id or uuid.uuid4().hex,
        user_id="u1",
        item_id=item,
        type=kind,  # type: ignore[arg-type]
        timestamp=at + timedelta(seconds=1),
        recommendation_id=rec_id,
    )


def _loop(
    platform: Platform, store: MemoryCheckpoints, clock: Clock, registry: CollectorRegistry
) -> BanditLoop:
    return BanditLoop(
        platform.sessions,
        store,
        BanditLoopMetrics(registry),
        checkpoint_every=1000,
        checkpoint_seconds=3600,
        clock=clock,
    )


def _rewards(platform: Platform, rec_id: str) -> dict[str, dict[str, float]]:
    with platform.sessions() as s:
        row = s.get(BanditDecision, (rec_id, TENANT))
        assert row is not None
        return dict(row.rewards)


def test_rewards_join_once_and_close_after_the_wait_window(platform: Platform) -> None:
    store, clock, registry = MemoryCheckpoints(), Clock(), CollectorRegistry()
    loop = _loop(platform, store, clock, registry)
    click = _event("r1", "b", "click")
    batch = ([_impression("r1", [1, 0])], [click, _event("r1", "a", "skip")])
    loop.apply(*batch)
    loop.apply(*batch)  # a redelivered batch changes nothing
    assert _rewards(platform, "r1") == {"b": {"click": 1.0}, "a": {"skip": 1.0}}
    assert loop.tick(force=True) == 0  # the window is still open
    clock.now = NOW + timedelta(seconds=61)
    assert loop.tick(force=True) == 2  # both slots learned once
    assert loop.tick(force=True) == 0
    loop.apply([], [_event("r1", "c", "click", at=NOW + timedelta(seconds=70))])
    assert "c" not in _rewards(platform, "r1")  # after the window: expired, dropped
    expired = registry.get_sample_value(
        "recsys_bandit_rewards_total", {"tenant": TENANT, "outcome": "expired"}
    )
    joined = registry.get_sample_value("recsys_bandit_rewards_total", {"tenant": TENANT, "outcome": "joined"})
    assert expired == 1 and joined == 4
    assert registry.get_sample_value(
        "recsys_bandit_reward_sum", {"tenant": TENANT, "surface": "home"}
    ) == pytest.approx(0.5)  # click 1 on slot 1, skip -0.5 on slot 2


def test_a_restart_replays_only_what_the_checkpoint_lacks(platform: Platform) -> None:
    store, clock = MemoryCheckpoints(), Clock()
    first = _loop(platform, store, clock, CollectorRegistry())
    first.apply([_impression("r1", [0]), _impression("r2", [2])], [_event("r1", "a", "click")])
    clock.now = NOW + timedelta(seconds=61)
    assert first.tick(force=True) == 2
    assert first.checkpoint_now() == ["1"]
    assert store.lineage["1"].first_seq == 1 and store.lineage["1"].last_seq == 2
    first.apply([_impression("r3", [1])], [])
    clock.now = NOW + timedelta(seconds=200)
    assert first.tick(force=True) == 1  # learned, then the process dies before a checkpoint
    restarted = _loop(platform, store, clock, CollectorRegistry())
    assert restarted.tick(force=True) == 1  # r3 again (the checkpoint lacks it), not r1 and r2
    assert restarted.checkpoint_now() == ["2"]
    assert store.lineage["2"].parent_version == "1" and store.lineage["2"].first_seq == 3
    assert PolicyService(platform.sessions).get(TENANT, "home").learned == 3


def test_early_rewards_wait_for_their_decision_and_unknown_ones_are_dropped(platform: Platform) -> None:
    store, clock, registry = MemoryCheckpoints(), Clock(), CollectorRegistry()
    loop = _loop(platform, store, clock, registry)
    loop.apply([], [_event("r9", "a", "click"), _event("nobody", "a", "click")])
    loop.apply([_impression("r9", [0])], [])
    assert _rewards(platform, "r9") == {"a": {"click": 1.0}}
    clock.now = NOW + timedelta(minutes=11)
    loop.tick(force=True)
    with platform.sessions() as s:
        assert s.get(BanditDecision, ("nobody", TENANT)) is None
    assert (
        registry.get_sample_value("recsys_bandit_rewards_total", {"tenant": TENANT, "outcome": "unknown"})
        == 1
    )


def test_slot_rewards_follow_the_tenants_definition() -> None:
    decision = {"actions": _actions(["a", "b", "c"]), "slots": [[0, 1.0], [1, 1.0], [2, 1.0]]}
    definition = RewardDefinition(click=1.0, watch=2.0, skip=-0.25, default=0.1)
    signals = {"a": {"watch": 300.0}, "b": {"skip": 1.0, "click": 1.0}}
    assert slot_rewards(decision, signals, definition, {"a": 600.0}) == [1.0, 1.0, 0.1]
    assert slot_rewards(decision, {"b": {"skip": 1.0}}, definition, {}) == [0.1, -0.25, 0.1]


def test_a_corrupt_checkpoint_is_refused() -> None:
    from recsys_platform.bandit.policy import PolicyInvalid

    with pytest.raises(PolicyInvalid, match="does not load"):
        Policy(0.1, b"not a vowpal wabbit model", "9")
    good = Policy(0.1)
    assert Policy(0.3, good.save(), "1").exploration == 0.3


def test_decisions_deleted_only_past_retention_and_checkpointed(platform: Platform) -> None:
    store, clock = MemoryCheckpoints(), Clock()
    loop = BanditLoop(
        platform.sessions, store, BanditLoopMetrics(CollectorRegistry()), retention_seconds=3600, clock=clock
    )
    loop.apply([_impression("r1", [0])], [])
    clock.now = NOW + timedelta(seconds=61)
    loop.tick(force=True)
    loop.checkpoint_now()
    with transaction(platform.sessions) as s:
        assert s.get(BanditDecision, ("r1", TENANT)) is not None  # kept for off-policy evaluation
    loop.apply([_impression("r2", [0])], [])
    clock.now = NOW + timedelta(hours=2)
    loop.tick(force=True)
    loop.checkpoint_now()
    with platform.sessions() as s:
        assert s.get(BanditDecision, ("r1", TENANT)) is None


def test_a_malformed_decision_is_skipped_and_the_rest_learned(platform: Platform) -> None:
    store, clock = MemoryCheckpoints(), Clock()
    loop = _loop(platform, store, clock, CollectorRegistry())
    bad = _impression("bad", [0])
    assert bad.bandit is not None
    broken = {**bad.bandit, "actions": [{"item": "a"}], "slots": [[0, 0.5]]}  # no feature strings
    loop.apply([Impression(**{**bad.__dict__, "bandit": broken}), _impression("good", [1])], [])
    clock.now = NOW + timedelta(seconds=61)
    assert loop.tick(force=True) == 1
    assert loop.checkpoint_now() == ["1"]


def test_negative_rewards_are_learned_and_lower_the_reward_sum(platform: Platform) -> None:
    store, clock, registry = MemoryCheckpoints(), Clock(), CollectorRegistry()
    loop = _loop(platform, store, clock, registry)
    loop.apply([_impression("r1", [0])], [_event("r1", "a", "skip")])
    clock.now = NOW + timedelta(seconds=61)
    assert loop.tick(force=True) == 1
    labels = {"tenant": TENANT, "surface": "home"}
    assert registry.get_sample_value("recsys_bandit_reward_sum", labels) == pytest.approx(-0.5)
    assert registry.get_sample_value("recsys_bandit_learned_slots_total", labels) == 1
