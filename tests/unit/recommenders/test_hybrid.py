"""The hybrid recommender's request-time behaviour on a synthetic four-topic log."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.data import Interactions
from recsys_platform.recommenders.exceptions import InsufficientDataError, UnknownItemError
from recsys_platform.recommenders.hybrid import HybridRecommender


def topic_of(item_id: str) -> str:
    return item_id.split("-")[0]


def test_warm_user_gets_items_of_their_topic_with_a_reason(topic_model: Any) -> None:
    history = ["tech-1", "tech-2", "tech-3", "tech-4", "tech-5"]
    recs = topic_model.recommend(history, 5)
    assert len(recs) == 5
    assert [topic_of(r.item_id) for r in recs] == ["tech"] * 5
    assert recs[0].reason.startswith("because you liked Tech story")
    assert recs[0].score >= recs[-1].score
    assert {"ease", "als", "item_knn"} & set(recs[0].sources)


def test_history_and_excluded_items_are_never_returned(topic_model: Any) -> None:
    history = [f"food-{i}" for i in range(10)]
    exclude = [f"food-{i}" for i in range(10, 15)]
    recs = topic_model.recommend(history, 50, exclude=exclude)
    returned = {r.item_id for r in recs}
    assert returned
    assert not returned & set(history)
    assert not returned & set(exclude)


def test_history_beyond_max_history_is_still_never_returned(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    config = HybridConfig(max_history=3, cold_start_threshold=1, ranker=RankerConfig(enabled=False))
    model = HybridRecommender.fit(log, catalog, config)
    history = [f"food-{i}" for i in range(12)]  # scored from the 3 most recent, all 12 left out
    returned = {r.item_id for r in model.recommend(history, 60)}
    assert returned and not returned & set(history)
    repeats = {r.item_id for r in model.recommend(history, 60, exclude_history=False)}
    assert repeats & set(history)


def test_the_list_does_not_depend_on_the_wall_clock(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    model = HybridRecommender.fit(log, catalog, HybridConfig(cold_start_threshold=2))
    history = ["tech-1", "tech-2", "food-3", "tech-4"]
    at_fit = model.recommend(history, 20, now=model.state.fitted_at)
    week_later = model.recommend(history, 20, now=model.state.fitted_at + 7 * 86400)
    assert [(r.item_id, r.score) for r in at_fit] == [(r.item_id, r.score) for r in week_later]


def test_unavailable_items_are_never_returned(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    catalog = catalog.assign(available=~catalog["item_id"].str.startswith("sports-1"))
    model = HybridRecommender.fit(log, catalog, HybridConfig(ranker=RankerConfig(enabled=False)))
    recs = model.recommend(["sports-2", "sports-3", "sports-4", "sports-5", "sports-6"], 30)
    assert recs and not any(r.item_id.startswith("sports-1") for r in recs)
    assert not any(r.item_id.startswith("sports-1") for r in model.popular(100))


def test_a_new_click_changes_the_next_list(topic_model: Any) -> None:
    history = ["travel-1", "travel-2", "travel-3", "travel-4"]
    before = [r.item_id for r in topic_model.recommend(history, 10)]
    after = [r.item_id for r in topic_model.recommend(["food-1", "food-2", "food-3", *history], 10)]
    assert before != after
    assert any(topic_of(i) == "food" for i in after)


def test_unknown_history_ids_are_ignored(topic_model: Any) -> None:
    history = ["sports-1", "sports-2", "sports-3", "sports-4"]
    plain = topic_model.recommend(history, 10)
    noisy = topic_model.recommend(["nope-1", *history, "nope-2"], 10)
    assert [r.item_id for r in noisy] == [r.item_id for r in plain]


def test_cold_user_gets_content_and_popularity(topic_model: Any) -> None:
    empty = topic_model.recommend([], 5)
    assert [r.item_id for r in empty] == [r.item_id for r in topic_model.popular(5)]
    assert all(r.reason == "popular now" and r.sources == ("popularity",) for r in empty)
    one_click = topic_model.recommend(["food-3"], 5)
    assert topic_model.is_cold(["food-3"])
    assert set().union(*(r.sources for r in one_click)) <= {"content", "popularity"}
    assert topic_of(one_click[0].item_id) == "food"
    assert one_click[0].reason == "similar to what you read"


def test_category_affinity_moves_a_cold_users_list(topic_model: Any) -> None:
    recs = topic_model.recommend([], 10, category_affinity={"travel": 1.0})
    assert topic_of(recs[0].item_id) == "travel"


def test_similar_items_of_a_text_item_are_same_topic(topic_model: Any) -> None:
    # sports-20 is never read: only its text and category can place it
    similar = topic_model.similar_items("sports-20", 5)
    assert [topic_of(s.item_id) for s in similar] == ["sports"] * 5
    assert "sports-20" not in {s.item_id for s in similar}
    assert similar[0].reason.startswith("similar to Sports story 20")
    read = topic_model.similar_items("tech-3", 5, exclude=["tech-4"])
    assert [topic_of(s.item_id) for s in read] == ["tech"] * 5
    assert "tech-4" not in {s.item_id for s in read}


def test_similar_items_of_an_unknown_item_raises(topic_model: Any) -> None:
    with pytest.raises(UnknownItemError, match="nope"):
        topic_model.similar_items("nope")
    with pytest.raises(KeyError):
        topic_model.item_metadata("nope")


def test_item_metadata_comes_from_the_catalog(topic_model: Any) -> None:
    meta = topic_model.item_metadata("food-2")
    assert meta["categories"] == ["food"]
    assert meta["title"].startswith("Food story 2")
    assert meta["available"] is True
    assert meta["created_at"] == 1_000_002.0


def test_recommend_batch_matches_recommend(topic_model: Any) -> None:
    histories = [["tech-1", "tech-2", "tech-3"], []]
    batch = topic_model.recommend_batch(histories, 4)
    assert batch == [topic_model.recommend(h, 4) for h in histories]


@pytest.mark.parametrize(
    ("users", "items", "events", "reason"),
    [(1, 5, 20, "users"), (5, 1, 20, "items"), (3, 3, 4, "interactions")],
)
def test_too_little_data_is_refused_with_the_reason(users: int, items: int, events: int, reason: str) -> None:
    rng = np.random.default_rng(0)
    log = Interactions(
        np.asarray([f"u{rng.integers(users)}" for _ in range(events)]),
        np.asarray([f"i{rng.integers(items)}" for _ in range(events)]),
        np.ones(events),
        np.arange(events),
    )
    with pytest.raises(InsufficientDataError, match=reason):
        HybridRecommender.fit(log)


def test_without_text_or_categories_content_is_skipped(topic_data: tuple[Any, Any]) -> None:
    log, _ = topic_data
    model = HybridRecommender.fit(log, None, HybridConfig(ranker=RankerConfig(enabled=False)))
    assert "content" not in model.generators
    assert "content" in model.state.skipped
    recs = model.recommend(["tech-1"], 5)
    assert len(recs) == 5


def test_ease_is_skipped_above_its_item_limit(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    config = HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("ease", max_items=10)
    model = HybridRecommender.fit(log, catalog, config)
    assert "ease" not in model.generators and "max_items 10" in model.state.skipped["ease"]
    recs = model.recommend(["tech-1", "tech-2", "tech-3", "tech-4", "tech-5"], 5)
    assert [topic_of(r.item_id) for r in recs] == ["tech"] * 5


def test_recommend_latency_on_a_10k_item_catalog() -> None:
    rng = np.random.default_rng(1)
    n_items, n_users = 10_000, 2_000
    users = np.repeat(np.arange(n_users), 20)
    items = (users * 5 + rng.integers(0, 60, users.shape[0])) % n_items
    log = Interactions(
        np.asarray([f"u{u}" for u in users]),
        np.asarray([f"i{i}" for i in items]),
        np.ones(users.shape[0]),
        np.arange(users.shape[0]),
    )
    catalog = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "text": [f"word{i % 97} word{i % 89} term{i % 13}" for i in range(n_items)],
            "categories": [[f"c{i % 20}"] for i in range(n_items)],
        }
    )
    config = (
        HybridConfig(ranker=RankerConfig(enabled=False))
        .with_generator("ease", max_items=5_000)
        .with_generator("als", iterations=3)
    )
    model = HybridRecommender.fit(log, catalog, config)
    histories = [[f"i{j}" for j in rng.integers(0, n_items, 30)] for _ in range(50)]
    timings = []
    for history in histories:
        start = time.perf_counter()
        recs = model.recommend(history, 10)
        timings.append(time.perf_counter() - start)
        assert len(recs) == 10
    median_ms = float(np.median(timings)) * 1000
    print(f"recommend() median on 10k items: {median_ms:.2f} ms")  # noqa: T201
    assert median_ms < 100, f"median {median_ms:.1f} ms"


def test_popularity_survives_a_fit_long_after_the_data(topic_data: tuple[Any, Any]) -> None:
    log, catalog = topic_data
    config = HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("popularity", half_life_days=1.0)
    model = HybridRecommender.fit(log, catalog, config, now=2_000_000_000.0)
    top = model.popular(3)
    assert all(r.score > 0 for r in top)
    counts = {i: int((log.item_ids == i).sum()) for i in set(log.item_ids.tolist())}
    assert counts[top[0].item_id] >= 1
