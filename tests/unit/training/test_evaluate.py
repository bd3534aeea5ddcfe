"""The evaluate step on news-like data: hold-out reachability, and the champion scored on equal terms.

A small in-memory registry holds the champion (a saved model directory and its data-window
tag); the real MLflow registry is covered by tests/integration/training.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from recsys_platform.recommenders.artifact import save_model
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.data import Interactions
from recsys_platform.recommenders.evaluation import evaluate_model, holdout_reachability, temporal_split
from recsys_platform.recommenders.hybrid import HybridRecommender
from recsys_platform.registry.gate import GateEvidence, GatePolicy, decide
from recsys_platform.registry.ports import CHAMPION, ModelVersionInfo
from recsys_platform.training import data
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.steps import evaluate_candidate

TOPICS = ("sport", "politics", "science", "cooking")
DAY = 86_400.0
T0 = 1_800_000_000.0
CONFIG = HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("als", iterations=3, factors=8)
#: A one-day hold-out of the ten days: most of its clicks are on items published before the cut.
PARAMS = TrainingParams(holdout_fraction=0.1)


def news(days: int = 10, users: int = 60, per_day: int = 4, life_days: float = 3.0) -> tuple[Any, Any]:
    """``(events, catalog)``: 16 items published a day, each read for ``life_days`` (mostly
    when fresh), users reading mostly one topic."""
    rng = np.random.default_rng(3)
    items = [
        (f"{t}-d{d}-{i}", t, T0 + d * DAY + rng.uniform(0, DAY))
        for d in range(days)
        for t in TOPICS
        for i in range(4)
    ]
    catalog = pd.DataFrame(
        {
            "item_id": [i for i, _, _ in items],
            "title": [f"{t} story {i}" for i, t, _ in items],
            "text": [f"{t} words" for _, t, _ in items],
            "categories": [[t] for _, t, _ in items],
            "created_at": [p for _, _, p in items],
            "available": True,
        }
    )
    rows = []
    for u in range(users):
        favourite = TOPICS[u % len(TOPICS)]
        for d in range(days):
            for _ in range(per_day):
                at = T0 + d * DAY + rng.uniform(0, DAY)
                topic = favourite if rng.random() < 0.85 else TOPICS[int(rng.integers(len(TOPICS)))]
                live = [(i, p) for i, t, p in items if t == topic and p <= at < p + life_days * DAY]
                if live:
                    weights = np.exp([-(at - p) / DAY for _, p in live])
                    pick = live[int(rng.choice(len(live), p=weights / weights.sum()))][0]
                    rows.append((f"user-{u}", pick, 1.0, at))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "value", "timestamp"])
    return events.sort_values("timestamp", kind="stable").reset_index(drop=True), catalog


@pytest.fixture(scope="module")
def news_data() -> tuple[Any, Any]:
    return news()


class ChampionRegistry:
    """Just what the evaluate step asks the registry: the champion and its artifact."""

    def __init__(self, model_dir: Path, data_end: float, version: str = "3") -> None:
        self.model_dir = model_dir
        self.info = ModelVersionInfo(
            "recsys-acme",
            version,
            (CHAMPION,),
            {"ndcg_at_10": 0.9},  # logged on its own hold-out; must not be what the gate compares
            {"recsys.data_window_end": datetime.fromtimestamp(data_end, UTC).isoformat()},
            "run",
            0,
        )

    def get_champion(self, tenant_id: str) -> ModelVersionInfo:
        return self.info

    def download(self, tenant_id: str, ref: str, destination: Path) -> Path:
        assert ref == self.info.version
        shutil.copytree(self.model_dir, destination)
        return destination


def fit(events: pd.DataFrame, catalog: pd.DataFrame, config: HybridConfig = CONFIG) -> HybridRecommender:
    return HybridRecommender.fit(
        data.to_interactions(events), catalog=catalog, config=config, now=float(events["timestamp"].max())
    )


def champion_registry(
    tmp_path: Path, events: pd.DataFrame, catalog: pd.DataFrame, config: HybridConfig = CONFIG
) -> ChampionRegistry:
    model = fit(events, catalog, config)
    save_model(model, tmp_path / "champion")
    return ChampionRegistry(tmp_path / "champion", float(events["timestamp"].max()))


def candidate_of(events: pd.DataFrame, catalog: pd.DataFrame, params: TrainingParams = PARAMS) -> Any:
    """What the train step fits for evaluation: the recipe on the events before the cut."""
    train_part, _ = temporal_split(data.to_interactions(events), params.holdout_fraction)
    return HybridRecommender.fit(
        train_part, catalog=catalog, config=CONFIG, now=float(events["timestamp"].max())
    )


def test_reachability_counts_hold_out_interactions_on_items_known_before_the_cut() -> None:
    train = Interactions(
        np.asarray(["u", "u", "v", "v"] * 3),
        np.asarray(["a", "b", "a", "c"] * 3),
        np.ones(12),
        np.arange(12),
    )
    model = HybridRecommender.fit(
        train, config=HybridConfig(ranker=RankerConfig(enabled=False), min_events=2)
    )
    test = Interactions(
        np.asarray(["u", "v", "w", "w"]), np.asarray(["c", "new", "new", "newer"]), np.ones(4), np.arange(4)
    )
    figures = holdout_reachability(model, train, test)
    assert figures == {
        "holdout_events": 4.0,
        "holdout_users": 3.0,
        "holdout_indexed_share": 0.25,
        "holdout_reachability": 0.25,
        "holdout_reachable_users": 1.0,
    }


def test_a_hold_out_of_items_never_seen_is_reported_and_the_gate_refuses_to_decide(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    """The default 20 % hold-out of short-lived news: most clicks are on items published after
    the cut, so no model (nor popularity) can hit them; the gate neither promotes a first
    model nor replaces a champion on it."""
    events, catalog = news_data
    params = TrainingParams()
    registry = champion_registry(tmp_path, events[events["timestamp"] <= T0 + 7 * DAY], catalog)
    metrics = evaluate_candidate(
        candidate_of(events, catalog, params), events, catalog, params, registry, "acme"
    )
    assert metrics["holdout_reachability"] < 0.5
    assert metrics["holdout_events"] == pytest.approx(0.2 * len(events), abs=2)
    assert metrics["holdout_users"] == 60 and metrics["users"] == 60

    evidence = GateEvidence.from_metrics(metrics)
    for champion in ("3", None):
        decision = decide(evidence.against(champion, 0.9), GatePolicy())
        assert not decision.promoted and decision.rule == "holdout_not_meaningful"
        assert "hold-out not meaningful: only" in decision.reason
        assert "min_holdout_reachability 50%" in decision.reason


def test_same_recipe_on_newer_data_is_compared_on_equal_terms_and_promoted(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    """Hourly-style retraining: the champion (same config) was trained up to 9.6 days, past the
    candidate's cut (9.0 days). Scored on the events after its window it beats the candidate,
    which lacks the newest 0.6 day it has: the old comparison refused a refresh that helps."""
    events, catalog = news_data
    champion_end = T0 + 9.6 * DAY
    registry = champion_registry(tmp_path, events[events["timestamp"] <= champion_end], catalog)
    candidate = candidate_of(events, catalog)
    metrics = evaluate_candidate(candidate, events, catalog, PARAMS, registry, "acme")

    # the unequal comparison this replaces
    train_part, test_part = temporal_split(data.to_interactions(events), PARAMS.holdout_fraction)
    assert test_part.timestamps is not None
    unseen = test_part.subset(test_part.timestamps > champion_end)
    served = fit(events[events["timestamp"] <= champion_end], catalog)
    old_champion = evaluate_model(served, train_part, unseen)["ndcg_at_10"]
    old_candidate = evaluate_model(candidate, train_part, unseen)["ndcg_at_10"]
    assert old_champion > old_candidate + 0.005

    assert metrics["holdout_reachability"] >= 0.5
    assert (metrics["gate_same_recipe"], metrics["gate_newer_data"], metrics["gate_champion_refit"]) == (
        1,
        1,
        1,
    )
    assert metrics["champion_ndcg_at_10"] == metrics["ndcg_at_10"]  # one recipe, one train part
    assert metrics["ndcg_at_10"] > metrics["baseline_popularity_ndcg_at_10"]
    decision = decide(GateEvidence.from_metrics(metrics).against("3", 0.9), GatePolicy())
    assert decision.promoted and decision.rule == "refresh"
    assert "same recipe as champion 3 on newer data" in decision.reason


def test_a_champion_of_another_recipe_whose_data_reach_past_the_cut_is_refit_on_the_train_part(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    events, catalog = news_data
    other = HybridConfig.model_validate({**CONFIG.model_dump(), "generators": [{"kind": "item_knn"}]})
    registry = champion_registry(tmp_path, events[events["timestamp"] <= T0 + 9.6 * DAY], catalog, other)
    metrics = evaluate_candidate(candidate_of(events, catalog), events, catalog, PARAMS, registry, "acme")

    train_part, test_part = temporal_split(data.to_interactions(events), PARAMS.holdout_fraction)
    refit = HybridRecommender.fit(
        train_part, catalog=catalog, config=other, now=float(events["timestamp"].max())
    )
    assert (metrics["gate_same_recipe"], metrics["gate_champion_refit"]) == (0, 1)
    assert metrics["champion_ndcg_at_10"] == pytest.approx(
        evaluate_model(refit, train_part, test_part)["ndcg_at_10"]
    )
    assert metrics["champion_version"] == 3


def test_a_champion_whose_data_ended_before_the_cut_is_scored_as_it_serves(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    events, catalog = news_data
    old = events[events["timestamp"] <= T0 + 8.5 * DAY]
    registry = champion_registry(tmp_path, old, catalog)
    metrics = evaluate_candidate(candidate_of(events, catalog), events, catalog, PARAMS, registry, "acme")

    train_part, test_part = temporal_split(data.to_interactions(events), PARAMS.holdout_fraction)
    served = evaluate_model(fit(old, catalog), train_part, test_part)["ndcg_at_10"]
    assert (metrics["gate_same_recipe"], metrics["gate_newer_data"], metrics["gate_champion_refit"]) == (
        1,
        1,
        0,
    )
    assert metrics["champion_ndcg_at_10"] == pytest.approx(served)


def test_an_unreadable_champion_leaves_the_gate_its_logged_metric(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    events, catalog = news_data
    (tmp_path / "broken").mkdir()
    registry = ChampionRegistry(tmp_path / "broken", T0 + 9.6 * DAY)
    metrics = evaluate_candidate(candidate_of(events, catalog), events, catalog, PARAMS, registry, "acme")
    assert "champion_ndcg_at_10" not in metrics and metrics["champion_version"] == 3
    evidence = GateEvidence.from_metrics(metrics).against("3", 0.9)
    assert (evidence.comparison, evidence.champion) == ("logged", 0.9)
    decision = decide(evidence, GatePolicy())
    assert not decision.promoted and "logged" in decision.reason


def test_a_candidate_serving_the_streaming_blend_is_gated_on_the_served_replay(
    news_data: tuple[Any, Any], tmp_path: Path
) -> None:
    """The same default hold-out that no batch model can reach: with the streaming blend (tuned
    on the point-in-time replay, as the train step does) the served candidates reach most next
    events, so the gate decides on what users would get, against recent-popular."""
    from recsys_platform.training.steps import _with_stream_weights

    events, catalog = news_data
    params = TrainingParams()
    train_part, _ = temporal_split(data.to_interactions(events), params.holdout_fraction)
    candidate = _with_stream_weights(candidate_of(events, catalog, params), events, train_part)
    assert any(w > 0 for k, w in candidate.config.stream_weights.items() if k != "model")
    registry = champion_registry(tmp_path, events[events["timestamp"] <= T0 + 7 * DAY], catalog)
    metrics = evaluate_candidate(candidate, events, catalog, params, registry, "acme")
    assert metrics["served_replay"] == 1.0
    assert metrics["batch_holdout_reachability"] < 0.5 <= metrics["holdout_reachability"]
    assert metrics["holdout_users"] >= metrics["holdout_reachable_users"] >= 10
    validation = candidate.state.validation
    # what serving computes: the stream ranker's out-of-fold figure when it was kept, else the blend's
    served = (
        validation["stream_ranker_ndcg_at_10"]
        if candidate.stream_ranker
        else validation["stream_blend_ndcg_at_10"]
    )
    assert metrics["ndcg_at_10"] == validation["stream_served_ndcg_at_10"] == served
    assert metrics["ndcg_at_10"] >= validation["stream_model_ndcg_at_10"]
    # the champion (data up to day 7, before the cut) is scored on the same replay, as it serves
    assert 0.0 < metrics["champion_ndcg_at_10"] < 1.0
    decision = decide(GateEvidence.from_metrics(metrics).against("3", 0.9), GatePolicy())
    assert decision.rule != "holdout_not_meaningful"
