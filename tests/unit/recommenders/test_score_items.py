"""``HybridRecommender.score_items``: the caller's items in ``recommend``'s order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.hybrid import HybridRecommender

WARM = ["tech-1", "tech-2", "tech-3", "tech-4", "tech-5"]


@pytest.fixture(scope="module")
def ranked(topic_data: tuple[Any, Any]) -> HybridRecommender:
    """A model with a learned ranker (min_gain=-1 keeps it whatever it scores)."""
    log, catalog = topic_data
    config = HybridConfig(
        ranker=RankerConfig(num_rounds=20, min_data_in_leaf=5, min_gain=-1.0, min_users=5),
    ).with_generator("als", factors=8, iterations=5)
    return HybridRecommender.fit(log, catalog, config)


def _shuffled_subset(ids: list[str], seed: int, k: int = 12) -> list[str]:
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.choice(len(ids), size=min(k, len(ids)), replace=False)]


@pytest.mark.parametrize("history", [WARM, ["food-3"], []], ids=["warm", "cold-one-item", "cold-empty"])
@pytest.mark.parametrize("model_name", ["topic_model", "ranked"])
def test_relative_order_equals_recommends(
    history: list[str], model_name: str, request: pytest.FixtureRequest
) -> None:
    model: HybridRecommender = request.getfixturevalue(model_name)
    full = [r.item_id for r in model.recommend(history, 10_000, now=2_000_000.0)]
    assert len(full) > 20
    for seed in range(3):
        given = _shuffled_subset(full, seed)
        got = model.score_items(history, given, now=2_000_000.0)
        assert [s.item_id for s in got] == [i for i in full if i in set(given)]
        assert all(s.score >= t.score for s, t in zip(got, got[1:], strict=False))
        assert all(s.reason for s in got)


def test_scores_and_reasons_match_recommends_for_items_in_its_pool(topic_model: HybridRecommender) -> None:
    full = {r.item_id: r for r in topic_model.recommend(WARM, 10_000)}
    got = topic_model.score_items(WARM, ["tech-9", "tech-7", "sports-2"])
    for s in got:
        assert s.score == pytest.approx(full[s.item_id].score) and s.reason == full[s.item_id].reason
        assert s.sources == full[s.item_id].sources


def test_unknown_items_come_last_in_the_given_order(topic_model: HybridRecommender) -> None:
    got = topic_model.score_items(WARM, ["zz-new", "tech-9", "aa-new", "sports-2", "mm-new"])
    assert [s.item_id for s in got[:2]] == ["tech-9", "sports-2"]  # the tech reader's topic first
    assert [s.item_id for s in got[2:]] == ["zz-new", "aa-new", "mm-new"]
    assert all(s.score == -math.inf and s.sources == () for s in got[2:])
    assert got[2].reason == "not known to the model"
    only_unknown = topic_model.score_items(WARM, ["b-new", "a-new"])
    assert [s.item_id for s in only_unknown] == ["b-new", "a-new"]
    assert topic_model.score_items(WARM, []) == []


def test_history_and_unavailable_items_are_scored_not_dropped(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    catalog = catalog.copy()
    catalog.loc[catalog["item_id"] == "tech-9", "available"] = False
    model = HybridRecommender.fit(
        log, catalog, HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("als", factors=8)
    )
    got = model.score_items(WARM, ["tech-1", "tech-9", "food-2"])
    assert sorted(s.item_id for s in got) == ["food-2", "tech-1", "tech-9"]
    assert all(math.isfinite(s.score) for s in got)
    assert got[-1].item_id == "food-2"


def test_duplicates_are_refused_naming_both_positions(topic_model: HybridRecommender) -> None:
    with pytest.raises(ValueError, match=r"item_ids\[2\]: duplicate of item_ids\[0\] \('tech-9'\)"):
        topic_model.score_items(WARM, ["tech-9", "food-1", "tech-9"])
