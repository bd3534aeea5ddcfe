"""Re-ranking functions: what a user of the list would notice."""

from __future__ import annotations

import numpy as np
import pytest
from recsys_model_servers.rerank import (
    Candidate,
    ItemInfo,
    cap_per_category,
    category_jaccard,
    drop_items,
    embedding_similarity,
    filter_categories,
    freshness_boost,
    mmr,
    normalize_scores,
    rerank,
)
from recsys_model_servers.settings import RerankSettings

NOW = 1_700_000_000.0


def cand(
    item: str, score: float, cats: tuple[str, ...] = (), age_h: float | None = None, available: bool = True
) -> Candidate:
    created = None if age_h is None else NOW - age_h * 3600
    return Candidate(item, score, "r", ("ease",), ItemInfo(frozenset(cats), created, available))


def ids(cands: list[Candidate]) -> list[str]:
    return [c.item_id for c in cands]


def test_drop_items_removes_seen_excluded_and_unavailable() -> None:
    cands = [cand("a", 3), cand("b", 2, available=False), cand("c", 1), cand("d", 0.5)]
    assert ids(drop_items(cands, {"c"})) == ["a", "d"]
    assert ids(drop_items(cands, {"c"}, unavailable=False)) == ["a", "b", "d"]


def test_category_filters_include_any_and_exclude_all() -> None:
    cands = [
        cand("a", 3, ("news", "sport")),
        cand("b", 2, ("tech",)),
        cand("c", 1, ()),
        cand("d", 1, ("sport",)),
    ]
    assert ids(filter_categories(cands, ["sport"], [])) == ["a", "d"]
    assert ids(filter_categories(cands, None, ["news"])) == ["b", "c", "d"]
    assert ids(filter_categories(cands, ["sport", "tech"], ["news"])) == ["b", "d"]
    assert ids(filter_categories(cands, [], [])) == []  # an empty include list matches nothing


def test_normalize_scores_maps_to_unit_interval_keeping_order() -> None:
    out = normalize_scores([cand("a", 10), cand("b", 5), cand("c", 0), cand("d", float("-inf"))])
    assert [c.score for c in out] == [1.0, 0.5, 0.0, 0.0]
    assert [c.score for c in normalize_scores([cand("a", 7), cand("b", 7)])] == [1.0, 1.0]
    assert normalize_scores([]) == []


def test_freshness_boost_lifts_new_items_and_decays_with_age() -> None:
    cands = [cand("old", 1.0, age_h=24 * 30), cand("new", 0.8, age_h=1), cand("unknown", 0.9)]
    out = freshness_boost(cands, NOW, weight=0.5, half_life_seconds=48 * 3600)
    assert ids(out) == ["new", "old", "unknown"]
    by_id = {c.item_id: c.score for c in out}
    assert by_id["new"] == pytest.approx(0.8 + 0.5 * 0.5 ** (1 / 48))
    assert by_id["unknown"] == 0.9  # no creation time: no boost
    assert ids(freshness_boost(cands, NOW, weight=0.0, half_life_seconds=1)) == ["old", "new", "unknown"]


def test_freshness_treats_future_items_as_brand_new() -> None:
    (c,) = freshness_boost([cand("f", 0.0, age_h=-5)], NOW, weight=1.0, half_life_seconds=3600)
    assert c.score == pytest.approx(1.0)


def test_mmr_interleaves_categories_and_lambda_one_is_relevance_order() -> None:
    cands = [
        cand("a1", 1.0, ("a",)),
        cand("a2", 0.95, ("a",)),
        cand("a3", 0.9, ("a",)),
        cand("b1", 0.7, ("b",)),
    ]
    assert ids(mmr(cands, 3, lam=1.0)) == ["a1", "a2", "a3"]
    assert ids(mmr(cands, 3, lam=0.5)) == ["a1", "b1", "a2"]
    assert len(mmr(cands, 10, lam=0.5)) == 4


def test_embedding_similarity_is_cosine() -> None:
    sim = embedding_similarity({"x": np.array([1.0, 0.0]), "y": np.array([1.0, 1.0]), "z": np.zeros(2)})
    assert sim(cand("x", 1), cand("y", 1)) == pytest.approx(2**-0.5)
    assert sim(cand("x", 1), cand("z", 1)) == 0.0
    assert sim(cand("x", 1), cand("missing", 1)) == 0.0
    diverse = mmr(
        [cand("x", 1.0), cand("y", 0.99), cand("w", 0.5)],
        2,
        0.3,
        embedding_similarity(
            {"x": np.array([1.0, 0.0]), "y": np.array([1.0, 0.01]), "w": np.array([0.0, 1.0])}
        ),
    )
    assert ids(diverse) == ["x", "w"]


def test_category_jaccard() -> None:
    assert category_jaccard(cand("a", 1, ("x", "y")), cand("b", 1, ("y", "z"))) == pytest.approx(1 / 3)
    assert category_jaccard(cand("a", 1, ()), cand("b", 1, ())) == 0.0


def test_cap_per_category_defers_overflow_to_the_tail() -> None:
    cands = [cand(f"a{i}", 1 - i / 10, ("a",)) for i in range(4)] + [cand("b0", 0.1, ("b",))]
    assert ids(cap_per_category(cands, 2)) == ["a0", "a1", "b0", "a2", "a3"]


def test_rerank_composes_filters_diversity_and_cap() -> None:
    cands = [cand(f"a{i}", 1 - i / 10, ("a",)) for i in range(5)] + [
        cand("b0", 0.3, ("b",)),
        cand("gone", 0.99, ("b",), available=False),
        cand("seen", 0.98, ("b",)),
    ]
    settings = RerankSettings(diversity="none", max_per_category=2)
    out = rerank(cands, 4, settings, now=NOW, excluded={"seen"})
    assert ids(out) == ["a0", "a1", "b0", "a2"]
    assert all(0.0 <= c.score <= 1.0 for c in out)
    only_b = rerank(cands, 4, settings, now=NOW, excluded={"seen"}, include_categories=["b"])
    assert ids(only_b) == ["b0"]
    assert len(rerank(cands, 3, RerankSettings(), now=NOW)) == 3


def test_vectorised_category_mmr_matches_the_generic_one() -> None:
    rng = np.random.default_rng(3)
    cats = ["a", "b", "c", "d"]
    cands = [
        cand(
            f"i{k}", float(rng.random()), tuple(rng.choice(cats, size=int(rng.integers(0, 3)), replace=False))
        )
        for k in range(60)
    ]
    for lam in (0.2, 0.5, 0.8):
        fast = mmr(cands, 15, lam)  # category_jaccard itself takes the vectorised path

        def generic(a: Candidate, b: Candidate) -> float:
            return category_jaccard(a, b)

        assert ids(fast) == ids(mmr(cands, 15, lam, generic))
