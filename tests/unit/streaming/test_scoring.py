"""Pure serving-side scoring: session normalisation, co-visitation, V-SkNN, top-k order."""

from __future__ import annotations

import pytest
from recsys_platform.streaming.events import StreamSignals, top_items
from recsys_platform.streaming.scoring import (
    covisit_scores,
    current_session,
    position_weights,
    select_candidates,
    session_knn_scores,
)


def test_current_session_drops_repeats_and_keeps_the_most_recent() -> None:
    assert current_session(["c", "b", "c", "a", "d"], max_items=3) == ["c", "b", "a"]
    assert current_session([], max_items=3) == []


def test_position_weights_decay_linearly_from_the_most_recent() -> None:
    assert position_weights(4) == [1.0, 0.75, 0.5, 0.25]
    assert position_weights(0) == []


def test_covisit_weights_each_anchor_by_recency() -> None:
    scores = covisit_scores([1.0, 0.5], [{"x": 2.0}, {"x": 4.0, "y": 1.0}])
    assert scores == {"x": 4.0, "y": 0.5}


def test_candidates_are_the_most_recent_sessions_across_items() -> None:
    index = [[("s1", 10.0), ("s2", 5.0)], [("s2", 30.0), ("s3", 1.0), ("me", 99.0)]]
    assert select_candidates(index, sample=2, exclude="me") == ["s2", "s1"]
    assert select_candidates(index, sample=10, exclude=None) == ["me", "s2", "s1", "s3"]


def test_session_knn_follows_ludewig_and_jannach() -> None:
    session = ["b", "a"]  # b most recent (weight 1), a weight 1/2
    weights = position_weights(2)
    items_of = {"n1": {"a", "b", "x"}, "n2": {"a", "y"}, "n3": {"b", "z"}, "n4": {"q"}}
    scores = session_knn_scores(session, weights, ["n1", "n2", "n3", "n4"], items_of, neighbours=2)
    # similarities: n1 1.5, n3 1.0, n2 0.5 (not among the top 2), n4 0 (no shared item)
    assert scores == pytest.approx({"a": 1.5, "b": 2.5, "x": 1.5, "z": 1.0})


def test_top_items_break_ties_like_redis_zrevrange() -> None:
    assert top_items({"a": 1.0, "b": 1.0, "c": 2.0}, 2) == [("c", 2.0), ("b", 1.0)]
    assert top_items({"a": 1.0}, 0) == []


def test_stream_signals_top_names_each_signal() -> None:
    s = StreamSignals(5, {900: {"t": 3.0, "u": 1.0}}, {"n": 1.0}, {"c": 2.0}, {"k": 0.5})
    assert s.top("trending_900", 1) == [("t", 3.0)]
    assert s.top("next_item", 5) == [("n", 1.0)]
    assert s.top("session_knn", 5) == [("k", 0.5)]
    with pytest.raises(KeyError):
        s.top("popular", 5)
    with pytest.raises(KeyError):
        s.top("trending_60", 5)
