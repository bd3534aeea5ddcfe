"""The learned ranker stage: trained on a validation split, deterministic, saved and loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recsys_platform.recommenders.artifact import load_model, save_model
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.data import Interactions
from recsys_platform.recommenders.hybrid import HybridRecommender
from recsys_platform.recommenders.ranker import validation_holdout

# min_gain=-1 keeps the ranker whatever it scores, so its code path is exercised
CONFIG = HybridConfig(
    ranker=RankerConfig(num_rounds=20, min_data_in_leaf=5, min_gain=-1.0, min_users=5),
).with_generator("als", factors=8, iterations=5)


@pytest.fixture(scope="module")
def ranked(topic_data: tuple[Any, Any]) -> HybridRecommender:
    log, catalog = topic_data
    return HybridRecommender.fit(log, catalog, CONFIG)


def test_the_ranker_is_trained_and_orders_warm_lists(ranked: HybridRecommender) -> None:
    assert ranked.state.ranker_model is not None
    assert "ranker" not in ranked.state.skipped
    assert ranked.state.validation["users"] >= 5
    recs = ranked.recommend(["food-1", "food-2", "food-3", "food-4", "food-5", "food-6"], 5)
    assert [r.item_id.split("-")[0] for r in recs] == ["food"] * 5
    assert recs[0].score >= recs[-1].score


def test_training_is_deterministic(ranked: HybridRecommender, topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    again = HybridRecommender.fit(log, catalog, CONFIG)
    assert again.state.ranker_model == ranked.state.ranker_model
    assert again.config == ranked.config


def test_tuning_stores_the_chosen_weights_and_threshold(ranked: HybridRecommender) -> None:
    assert ranked.config.cold_start_threshold in (0, 1, 2, 3, 5, 8, 12, 20)
    assert set(ranked.config.cold_blend_weights) == {"content", "popularity"}
    assert ranked.config.ranker.num_rounds <= 20


def test_round_trip_with_the_ranker_gives_identical_lists(ranked: HybridRecommender, tmp_path: Path) -> None:
    loaded = load_model(save_model(ranked, tmp_path / "m"))
    assert (tmp_path / "m" / "ranker.txt").is_file()
    for history in (["tech-1", "tech-2", "tech-3", "tech-4", "tech-5", "tech-6"], ["sports-2"], []):
        assert loaded.recommend(history, 10) == ranked.recommend(history, 10)


def test_a_ranker_that_does_not_beat_the_blend_is_dropped_with_the_reason(
    topic_data: tuple[Any, Any],
) -> None:
    log, catalog = topic_data
    config = CONFIG.model_copy(update={"ranker": CONFIG.ranker.model_copy(update={"min_gain": 1.0})})
    model = HybridRecommender.fit(log, catalog, config)
    assert model.state.ranker_model is None
    assert "did not beat the blend" in model.state.skipped["ranker"]


def test_too_few_validation_users_means_no_ranker(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    config = CONFIG.model_copy(update={"ranker": CONFIG.ranker.model_copy(update={"min_users": 10_000})})
    model = HybridRecommender.fit(log, catalog, config)
    assert model.state.ranker_model is None
    assert "validation users" in model.state.skipped["ranker"]


@pytest.mark.parametrize("mode", ["temporal", "random"])
def test_validation_holdout_takes_a_share_of_each_user(mode: str) -> None:
    users = np.asarray(["a"] * 10 + ["b"] * 4 + ["c"])
    log = Interactions(users, np.asarray([f"i{i}" for i in range(15)]), np.ones(15), np.arange(15))
    held = validation_holdout(log, 0.2, mode, seed=1)
    assert held[:10].sum() == 2 and held[10:14].sum() == 1 and not held[14]
    if mode == "temporal":
        assert held[8] and held[9] and held[13]
