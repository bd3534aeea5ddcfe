"""Tiny synthetic matrices shared by the recommender tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.sparse import csr_matrix


@pytest.fixture
def two_groups() -> csr_matrix:
    """Users 0-3 like items 0-3, users 4-7 like items 4-7.

    Item 3 is the one group-A item user 0 has not seen; item 7 the one for user 4.
    """
    dense = np.array(
        [
            [1, 1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0, 0, 0],
            [0, 1, 1, 1, 0, 0, 0, 0],
            [1, 0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 0, 0, 1, 1, 1],
            [0, 0, 0, 0, 1, 0, 1, 1],
        ],
        dtype=float,
    )
    return csr_matrix(dense)


TOPIC_WORDS = {
    "sports": ["football", "striker", "goal", "league", "match", "coach", "derby", "keeper"],
    "tech": ["chip", "smartphone", "software", "laptop", "processor", "startup", "cloud", "app"],
    "food": ["recipe", "pasta", "tomato", "basil", "stew", "oven", "dinner", "bake"],
    "travel": ["beach", "flight", "hotel", "island", "passport", "mountain", "cruise", "museum"],
}


def synthetic_log(items_per_topic: int = 20, users_per_topic: int = 20, seed: int = 7) -> tuple[Any, Any]:
    """Users who read one topic each, and a catalog with topic words, categories and 2 new
    (never read) items per topic: ``(Interactions, catalog DataFrame)``."""
    import pandas as pd
    from recsys_platform.recommenders.data import Interactions

    rng = np.random.default_rng(seed)
    records = []
    for topic, words in TOPIC_WORDS.items():
        for i in range(items_per_topic + 2):
            picked = rng.choice(words, size=3, replace=False)
            records.append(
                {
                    "item_id": f"{topic}-{i}",
                    "title": f"{topic.title()} story {i}: " + " ".join(picked),
                    "text": " ".join(picked),
                    "categories": [topic],
                    "created_at": 1_000_000.0 + i,
                    "available": True,
                }
            )
    catalog = pd.DataFrame(records)
    users, items, times = [], [], []
    t = 1_000_000
    for topic in TOPIC_WORDS:
        for u in range(users_per_topic):
            chosen = rng.choice(items_per_topic, size=8, replace=False)
            for i in chosen:
                users.append(f"{topic}-user-{u}")
                items.append(f"{topic}-{i}")
                t += 60
                times.append(t)
    log = Interactions(np.asarray(users), np.asarray(items), np.ones(len(users)), np.asarray(times))
    return log, catalog


@pytest.fixture(scope="session")
def topic_data() -> tuple[Any, Any]:
    """``(Interactions, catalog)`` of the synthetic four-topic log."""
    return synthetic_log()


@pytest.fixture(scope="session")
def topic_model(topic_data: tuple[Any, Any]) -> Any:
    """A HybridRecommender fitted on the four-topic log (blend only, cold threshold 3)."""
    from recsys_platform.recommenders.config import HybridConfig, RankerConfig
    from recsys_platform.recommenders.hybrid import HybridRecommender

    log, catalog = topic_data
    config = HybridConfig(cold_start_threshold=3, ranker=RankerConfig(enabled=False)).with_generator(
        "als", factors=8
    )
    return HybridRecommender.fit(log, catalog, config)
