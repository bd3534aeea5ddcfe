"""The gateway's bandit stage on a migrated SQLite DB with a real VW policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from recsys_platform.bandit.config import PolicyConfig
from recsys_platform.bandit.policy import Policy
from recsys_platform.bandit.service import PolicyService
from recsys_platform.bandit.stage import BanditMetrics, BanditStage, Ranked
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import BanditPolicy

from tests.integration.event_path import Platform, sqlite_url

TENANT = "stage-shop"
RANKED = [Ranked(f"i{k}", 1.0 - k / 10, "model") for k in range(6)]


class Checkpoints:
    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}

    def fetch(self, tenant_id: str, surface: str, version: str) -> bytes:
        return self.models[version]


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    p = Platform(sqlite_url(tmp_path), "t", [])
    p.onboard(TENANT)
    return p


def _stage(platform: Platform, checkpoints: Checkpoints, registry: CollectorRegistry) -> BanditStage:
    stage = BanditStage(platform.sessions, checkpoints, BanditMetrics(registry))
    stage.refresh()
    return stage


def test_off_is_the_default_and_changes_nothing(platform: Platform) -> None:
    stage = _stage(platform, Checkpoints(), CollectorRegistry())
    assert not stage.enabled(TENANT, "home")
    assert stage.decide(TENANT, "home", "u1", {}, RANKED) is None
    PolicyService(platform.sessions).put(TENANT, "home", PolicyConfig(mode="off"))
    stage.refresh()
    assert not stage.enabled(TENANT, "home")


def test_apprentice_logs_the_rankers_slate_with_probability_one(platform: Platform) -> None:
    PolicyService(platform.sessions).put(TENANT, "home", PolicyConfig(mode="apprentice", slots=3))
    stage = _stage(platform, Checkpoints(), CollectorRegistry())
    decision = stage.decide(TENANT, "home", "u1", {"device": "tv"}, RANKED)
    assert decision is not None
    assert decision.order == list(range(6))
    assert decision.payload["slots"] == [[0, 1.0], [1, 1.0], [2, 1.0]]
    assert "device=tv" in decision.payload["context"]
    assert not stage.enabled(TENANT, "other-surface")


def test_online_orders_the_slate_and_keeps_every_item(platform: Platform) -> None:
    PolicyService(platform.sessions).put(
        TENANT, "home", PolicyConfig(mode="online", exploration=1.0, slots=4)
    )
    stage = _stage(platform, Checkpoints(), CollectorRegistry())
    firsts = set()
    for _ in range(40):
        decision = stage.decide(TENANT, "home", "u1", {}, RANKED)
        assert decision is not None
        assert sorted(decision.order) == list(range(6))
        assert all(
            p == pytest.approx(1 / (6 - k), rel=1e-4) for k, (_, p) in enumerate(decision.payload["slots"])
        )
        firsts.add(decision.order[0])
    assert len(firsts) > 2  # full exploration: uniform over the candidates


def test_a_corrupt_checkpoint_is_refused_and_the_previous_policy_keeps_serving(platform: Platform) -> None:
    PolicyService(platform.sessions).put(TENANT, "home", PolicyConfig(mode="online"))
    checkpoints, registry = Checkpoints(), CollectorRegistry()
    checkpoints.models["1"] = Policy(0.1).save()
    checkpoints.models["2"] = b"\x00garbage"
    with transaction(platform.sessions) as s:
        row = s.get(BanditPolicy, (TENANT, "home"))
        assert row is not None
        row.checkpoint_version = "1"
    stage = _stage(platform, checkpoints, registry)
    assert stage.policy_version(TENANT, "home") == "1"
    with transaction(platform.sessions) as s:
        row = s.get(BanditPolicy, (TENANT, "home"))
        assert row is not None
        row.checkpoint_version = "2"
    stage.refresh()
    assert stage.policy_version(TENANT, "home") == "1"
    assert stage.decide(TENANT, "home", "u1", {}, RANKED) is not None
    assert (
        registry.get_sample_value(
            "recsys_bandit_checkpoint_loads_total", {"tenant": TENANT, "outcome": "invalid"}
        )
        == 1
    )


def test_embedded_platform_registers_and_loads_checkpoints_in_one_registry(tmp_path: Path) -> None:
    from recsys_platform.embedded import embedded_settings

    s = embedded_settings(tmp_path)
    uris = {s.control_plane.mlflow.tracking_uri, s.gateway.mlflow.tracking_uri, s.stream.mlflow.tracking_uri}
    assert uris == {f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"}
