"""Each recipe recovers obvious structure; the shared top-k helper behaves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from recsys_platform.recommenders.base import NotFittedError, Recommender, recommend
from recsys_platform.recommenders.generators.als import ALSRecommender
from recsys_platform.recommenders.generators.ease import EASERecommender
from recsys_platform.recommenders.generators.item_knn import ItemKNNRecommender
from recsys_platform.recommenders.generators.popularity import PopularityRecommender
from scipy.sparse import csr_matrix

PERSONALISED: dict[str, Callable[[], Recommender]] = {
    "item_knn": lambda: ItemKNNRecommender(neighbours=5, num_threads=1),
    "als": lambda: ALSRecommender(factors=4, regularization=0.01, iterations=30, num_threads=1),
    "ease": lambda: EASERecommender(l2=1.0),
}


@pytest.mark.parametrize("name", PERSONALISED)
def test_top1_is_the_unseen_item_of_the_users_group(name: str, two_groups: csr_matrix) -> None:
    model = PERSONALISED[name]().fit(two_groups)
    items, scores = recommend(model, two_groups, [0, 4], k=1)
    assert items[:, 0].tolist() == [3, 7]


@pytest.mark.parametrize("name", PERSONALISED)
def test_unfitted_model_refuses_to_score(name: str) -> None:
    with pytest.raises(NotFittedError):
        PERSONALISED[name]().scores([0])


def test_popularity_ranks_by_count_and_excludes_seen() -> None:
    train = csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 1]]))
    model = PopularityRecommender().fit(train)
    assert recommend(model, train, [0], k=2, exclude_seen=False)[0].tolist() == [[1, 2]]
    assert recommend(model, train, [0], k=2)[0].tolist() == [[2, 3]]


def test_popularity_time_decay_prefers_recent_items() -> None:
    train = csr_matrix(np.array([[1, 1], [1, 0]]))
    times = csr_matrix(np.array([[1, 100], [1, 0]]))  # item 0: two old events, item 1: one new
    decayed = PopularityRecommender(half_life_seconds=10).fit(train, times)
    assert decayed.scores([0])[0].argmax() == 1
    assert PopularityRecommender().fit(train).scores([0])[0].argmax() == 0


def test_exclude_seen_pads_when_nothing_is_left() -> None:
    train = csr_matrix(np.array([[1, 1, 0]]))
    items, scores = recommend(PopularityRecommender().fit(train), train, [0], k=3)
    assert items.tolist() == [[2, -1, -1]]
    assert np.isneginf(scores[0, 1:]).all()


def test_ease_equals_a_brute_force_constrained_solve() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((12, 5)) < 0.5).astype(float)
    l2 = 2.0
    model = EASERecommender(l2=l2).fit(csr_matrix(x))
    # Column j: ridge regression of x_j on the other columns (the diag(B)=0 constraint).
    expected = np.zeros((5, 5))
    for j in range(5):
        others = [i for i in range(5) if i != j]
        a = x[:, others]
        expected[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(4), a.T @ x[:, j])
    assert model.weights_ is not None
    np.testing.assert_allclose(model.weights_, expected, atol=1e-10)
    np.testing.assert_allclose(model.scores([0, 1]), x[:2] @ expected, atol=1e-10)
