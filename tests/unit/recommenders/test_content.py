"""The TF-IDF content recipe on a tiny handmade news catalog."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from recsys_platform.recommenders.base import NotFittedError, recommend
from recsys_platform.recommenders.generators.content import ContentRecommender
from scipy.sparse import csr_matrix

IDS = ["s1", "s2", "s3", "t1", "t2", "t3", "f1", "f2"]
TITLES = [
    "Striker scores twice as United win the football derby",
    "Goalkeeper saves penalty in the football cup final",
    "Coach praises striker after the league match",
    "New smartphone chip promises faster processors",
    "Software update brings faster processors to laptops",
    "Startup unveils smartphone app powered by new chip",
    "Easy pasta recipe with tomato and basil",
    "Slow cooker recipe for a winter beef stew",
]
ABSTRACTS = [
    "The football team celebrated a derby win.",
    None,
    "League leaders stay top after the match.",
    "The chip maker says the processors ship next year.",
    "Laptops get the software update this week.",
    "The app runs on the new chip.",
    "Dinner in twenty minutes.",
    "",
]
CATEGORY = ["sports"] * 3 + ["tech"] * 3 + ["food"] * 2


def catalog(**kwargs: Any) -> ContentRecommender:
    model = ContentRecommender(**kwargs)
    return model.fit_items(IDS, {"title": TITLES, "abstract": ABSTRACTS}, {"category": CATEGORY})


def test_similar_items_of_a_sports_article_are_sports_articles() -> None:
    model = catalog()
    items, scores = model.similar_items(0, k=2)
    assert sorted(items.tolist()) == [1, 2]
    assert np.all(np.diff(scores) <= 0)
    assert 0 not in model.similar_items(0, k=7)[0].tolist()


def test_reader_of_two_tech_articles_gets_the_unseen_tech_article_first() -> None:
    model = catalog()
    train = csr_matrix(np.array([[0, 0, 0, 1, 1, 0, 0, 0]], dtype=float))
    model.fit(train)
    items, _ = recommend(model, train, [0], k=3)
    assert items[0, 0] == 5


def test_category_tokens_link_articles_without_shared_words() -> None:
    ids = ["a", "b", "c"]
    texts = {"title": ["Alpha beta gamma", "Delta epsilon zeta", "Theta iota kappa"]}
    cats = {"category": ["sports", "sports", "tech"]}
    with_cats = ContentRecommender().fit_items(ids, texts, cats)
    text_only = ContentRecommender(use_categories=False).fit_items(ids, texts, cats)
    assert with_cats.similar_items(0, k=1)[1][0] > 0.0
    assert with_cats.similar_items(0, k=1)[0].tolist() == [1]
    assert text_only.similar_items(0, k=2)[1].tolist() == [0.0, 0.0]
    assert with_cats.vocabulary_ is not None and "category=sports" in with_cats.vocabulary_
    # A category value that is also a word in the text does not collide with it.
    clash = ContentRecommender().fit_items(
        ["x", "y"], {"title": ["sports", "sports"]}, {"category": ["a", "b"]}
    )
    assert clash.vocabulary_ is not None and {"sports", "category=a"} <= set(clash.vocabulary_)


def test_category_weight_scales_category_influence() -> None:
    train = csr_matrix(np.array([[1, 0, 0, 0, 0, 0, 0, 0]], dtype=float))
    light = catalog(category_weight=0.1).fit(train).scores([0])[0]
    heavy = catalog(category_weight=5.0).fit(train).scores([0])[0]
    # Article s3 shares only the category (and "striker") with s1; more category weight, closer.
    assert heavy[2] > light[2]


def test_catalog_without_text_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValueError, match="'title', 'abstract'.*without text for the content model"):
        ContentRecommender().fit_items(["a", "b"], {"title": ["", "  "], "abstract": [None, None]})
    with pytest.raises(ValueError, match="without text for the content model"):
        ContentRecommender().fit_items(["a"], {})
    # Category-only is allowed when asked for explicitly.
    model = ContentRecommender(use_text=False).fit_items(["a", "b"], {"title": ["", ""]}, {"cat": ["x", "x"]})
    assert model.similar_items(0, k=1)[1][0] == pytest.approx(1.0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        ContentRecommender().fit_items(["a", "a"], {"title": ["x", "y"]})
    with pytest.raises(ValueError, match="'title' has 1 values for 2 items"):
        ContentRecommender().fit_items(["a", "b"], {"title": ["x"]})
    with pytest.raises(NotFittedError):
        ContentRecommender().fit(csr_matrix((1, 1)))
    with pytest.raises(NotFittedError):
        catalog().scores([0])


def test_cold_user_gets_all_zero_scores() -> None:
    model = catalog()
    train = csr_matrix(np.array([[1, 0, 0, 0, 0, 0, 0, 0], [0] * 8], dtype=float))
    scores = model.fit(train).scores([0, 1])
    assert scores.shape == (2, 8)
    assert np.all(scores[1] == 0.0)
    assert scores[0, 1] > 0.0


def test_new_items_are_scored_after_refitting_items_without_interactions() -> None:
    model = catalog()
    train = csr_matrix(np.array([[0, 0, 0, 1, 1, 0, 0, 0]], dtype=float))
    model.fit(train)
    # A new tech article arrives and an old food article leaves; the log is unchanged.
    ids = ["new_tech", *IDS[:-1]]
    titles = ["Chip maker reveals faster smartphone processors", *TITLES[:-1]]
    model.fit_items(ids, {"title": titles}, {"category": ["tech", *CATEGORY[:-1]]})
    scores = model.scores([0])[0]
    assert scores.shape == (8,)
    new_index = 0
    assert scores[new_index] > 0.0
    unseen = [i for i in range(8) if ids[i] not in ("t1", "t2")]
    assert max(unseen, key=lambda i: scores[i]) in (new_index, ids.index("t3"))
    assert scores[new_index] > scores[ids.index("s1")]


def test_train_narrower_than_catalog_scores_the_appended_items() -> None:
    model = catalog()
    train = csr_matrix(np.array([[1, 1, 0, 0, 0, 0]], dtype=float))  # last two items came later
    scores = model.fit(train).scores([0])
    assert scores.shape == (1, 8)
    assert scores[0, 2] > scores[0, 6]


def test_recency_weighting_favours_the_latest_interest() -> None:
    train = csr_matrix(np.array([[1, 0, 0, 1, 0, 0, 0, 0]], dtype=float))
    times = csr_matrix(np.array([[1_000.0, 0, 0, 100_000.0, 0, 0, 0, 0]]))
    recent = catalog(recency_half_life=3_600.0).fit(train, times).scores([0])[0]
    flat = catalog().fit(train).scores([0])[0]
    assert recent[5] > recent[1]  # tech (recent) over sports (old)
    assert recent[5] - recent[1] > flat[5] - flat[1]
    with pytest.raises(ValueError, match="event_times is required"):
        catalog(recency_half_life=10.0).fit(train)


def test_model_pickles() -> None:
    model = catalog().fit(csr_matrix(np.eye(1, 8)))
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.scores([0]), model.scores([0]))
