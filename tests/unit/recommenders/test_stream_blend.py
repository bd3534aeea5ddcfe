"""Blending the model's list with streaming signals, and tuning the weights point in time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from recsys_platform.recommenders.artifact import load_model, save_model
from recsys_platform.recommenders.hybrid import HybridRecommender
from recsys_platform.recommenders.stream_blend import (
    MODEL,
    ReplayCase,
    StreamRanker,
    blend,
    columns,
    context_features,
    fit_stream_ranker,
    replay_ndcg,
    signal_names,
    tune_stream_weights,
    uses_stream,
)
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import StreamSignals


@dataclass(frozen=True)
class Scored:
    item_id: str
    score: float
    reason: str = "because you liked x"
    sources: tuple[str, ...] = ("ease",)


def signals(knn: dict[str, float], trend: dict[str, float] | None = None) -> StreamSignals:
    return StreamSignals(
        watermark_ms=1,
        trending={900: trend or {}, 3600: {}, 21600: {}},
        next_item={},
        covisit={},
        session_knn=knn,
    )


NAMES = signal_names(StreamingConfig())


def test_columns_scale_each_source_within_the_request() -> None:
    model = [Scored("a", 10.0), Scored("b", 5.0), Scored("c", 0.0)]
    items, matrix = columns(model, signals({"b": 4.0, "new": 2.0}), NAMES, exclude={"c"})
    assert items == ["a", "b", "new"]  # c excluded; "new" comes from the stream only
    assert matrix[:, 0].tolist() == [1.0, 0.0, 0.0]  # min-max over the model's kept pool
    assert matrix[:, 1 + NAMES.index("session_knn")].tolist() == [0.0, 1.0, 0.5]


def test_model_alone_keeps_the_models_order_and_reasons() -> None:
    model = [Scored("a", 3.0), Scored("b", 2.0), Scored("c", 1.0)]
    out = blend(model, signals({"z": 9.0}), {MODEL: 1.0}, NAMES, 3)
    assert [o.item_id for o in out] == ["a", "b", "c"]
    assert out[0].reason == "because you liked x"
    assert not uses_stream({MODEL: 1.0, "session_knn": 0.0}) and uses_stream({"trending_900": 0.3})


def test_stream_items_the_model_never_saw_are_recommended_with_their_reason() -> None:
    model = [Scored("a", 3.0), Scored("b", 2.0)]
    weights = {MODEL: 0.3, "session_knn": 1.0, "trending_900": 0.5}
    out = blend(
        model, signals({"fresh-1": 5.0, "b": 1.0}, {"fresh-2": 7.0}), weights, NAMES, 4, exclude={"a"}
    )
    ids = [o.item_id for o in out]
    assert ids[0] == "fresh-1" and "a" not in ids and "fresh-2" in ids
    assert out[0].reason == "readers like you right now" and out[0].sources == ("session_knn",)
    trending = next(o for o in out if o.item_id == "fresh-2")
    assert trending.reason == "trending now"


class NextItemModel:
    """A stale batch model: always the same popular list (knows nothing of what happens now)."""

    def recommend(self, history: list[str], n: int, **_: object) -> list[Scored]:
        return [Scored(f"old-{k}", float(100 - k)) for k in range(n) if f"old-{k}" not in history]


def test_tuning_picks_the_session_signals_when_they_predict_the_next_click() -> None:
    rng = np.random.default_rng(0)
    events = []
    t = 1_700_000_000.0
    for s in range(600):  # sessions walk a chain of fresh items: x_k -> x_{k+1}
        start = int(rng.integers(0, 40))
        for pos in range(4):
            t += 7.0
            events.append((f"u{s}", f"x{start + pos}", 1.0, t, f"s{s}"))
    cut = events[len(events) // 2][3]
    weights, report = tune_stream_weights(NextItemModel(), events, cut, max_cases=400)
    assert report["blend_ndcg_at_10"] > report["model_ndcg_at_10"] + 0.2
    assert weights["next_item"] > 0 or weights["covisit"] > 0 or weights["session_knn"] > 0
    assert set(weights) == {MODEL, *NAMES}


def test_tuning_keeps_the_model_alone_when_the_stream_adds_nothing() -> None:
    events = [(f"u{k}", f"old-{k % 5}", 1.0, 1_700_000_000.0 + k, None) for k in range(50)]
    weights, report = tune_stream_weights(NextItemModel(), events, 1_700_000_025.0)
    assert report["blend_ndcg_at_10"] >= report["model_ndcg_at_10"]
    assert weights[MODEL] == 1.0


def test_a_given_list_is_ordered_by_the_blend_and_keeps_only_its_items() -> None:
    model = [Scored("a", 3.0), Scored("b", 1.0)]
    weights = {MODEL: 0.5, "trending_900": 1.0}
    trend = {"c": 9.0, "z": 10.0, "b": 9.0}  # z is trending most but was not given
    out = blend(model, signals({}, trend), weights, NAMES, 3, include=["a", "b", "c"])
    # b: model 0 + trending 0.9; c: 0.9 (unknown to the model); a: model 0.5 * 1
    assert [o.item_id for o in out] == ["b", "c", "a"]


def test_without_session_ids_the_session_signals_stay_off() -> None:
    rng = np.random.default_rng(1)
    events = []
    t = 1_700_000_000.0
    for s in range(600):  # the same chains, but the events carry no session id
        start = int(rng.integers(0, 40))
        for pos in range(4):
            t += 7.0
            events.append((f"u{s}", f"x{start + pos}", 1.0, t, None))
    weights, _ = tune_stream_weights(NextItemModel(), events, events[len(events) // 2][3], max_cases=400)
    assert weights["session_knn"] == weights["covisit"] == weights["next_item"] == 0.0


def synthetic_cases(n: int, rule: bool, seed: int = 0) -> list[ReplayCase]:
    """Replay cases of 40 candidates: the model's column and session-kNN's, and a context where the
    session length decides which one predicts the next click (``rule``) or neither does."""
    rng = np.random.default_rng(seed)
    names = signal_names(StreamingConfig())
    cases = []
    for i in range(n):
        matrix = np.zeros((40, 1 + len(names)))
        matrix[:, 0] = rng.random(40)
        matrix[:, 1] = rng.random(40)
        session = int(rng.integers(0, 6))
        context = context_features([f"i{r}" for r in range(40)], [], 20, session)
        if rule:  # long sessions: session-kNN's best item; short ones: the model's best
            target = int(np.argmax(matrix[:, 1] if session >= 3 else matrix[:, 0]))
        else:
            target = int(rng.integers(0, 40))
        cases.append(ReplayCase(matrix, target, f"u{i % 300}", (target,), 1, context))
    return cases


def test_the_stream_ranker_learns_what_a_weighted_sum_cannot_and_is_kept() -> None:
    cases = synthetic_cases(900, rule=True)
    weights = {MODEL: 1.0, "session_knn": 1.0}
    text, report = fit_stream_ranker(cases, weights)
    assert text is not None and report["ranker_kept"] == 1.0
    ranker = StreamRanker(text)
    fresh = synthetic_cases(400, rule=True, seed=1)
    assert replay_ndcg(fresh, weights, ranker=ranker) > replay_ndcg(fresh, weights) + 0.1


def test_a_stream_ranker_that_does_not_beat_the_blend_is_dropped() -> None:
    text, report = fit_stream_ranker(synthetic_cases(900, rule=False), {MODEL: 1.0, "session_knn": 1.0})
    assert text is None and report["ranker_kept"] == 0.0


def test_too_few_replayed_events_fit_no_stream_ranker() -> None:
    text, report = fit_stream_ranker(synthetic_cases(50, rule=True), {MODEL: 1.0, "session_knn": 1.0})
    assert text is None and report == {"ranker_cases": 50.0}


def test_serving_orders_a_request_as_the_stream_ranker_learned() -> None:
    cases = synthetic_cases(900, rule=True)
    weights = {MODEL: 1.0, "session_knn": 1.0}
    text, _ = fit_stream_ranker(cases, weights)
    assert text is not None
    model = [Scored(f"m{i}", float(10 - i)) for i in range(10)]
    stream = signals({f"s{i}": float(10 - i) for i in range(10)})
    # a long session: the ranker trusts session-kNN's best item over the model's best
    long_session = blend(model, stream, weights, NAMES, 3, ranker=StreamRanker(text), lengths=(20, 5))
    short_session = blend(model, stream, weights, NAMES, 3, ranker=StreamRanker(text), lengths=(20, 0))
    assert long_session[0].item_id == "s0" and short_session[0].item_id == "m0"


def test_the_stream_ranker_travels_with_the_model_artifact(topic_model: Any, tmp_path: Path) -> None:
    weights = {MODEL: 1.0, "session_knn": 1.0}
    text, _ = fit_stream_ranker(synthetic_cases(900, rule=True), weights)
    assert text is not None
    model = HybridRecommender(topic_model.config, replace(topic_model.state, stream_ranker_model=text))
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert loaded.stream_ranker is not None and topic_model.stream_ranker is None
    case = synthetic_cases(1, rule=True, seed=3)[0]
    linear = case.matrix @ np.ones(case.matrix.shape[1])
    np.testing.assert_array_equal(
        loaded.stream_ranker.score(case.matrix, case.context, linear),
        StreamRanker(text).score(case.matrix, case.context, linear),
    )


def test_tuning_weighs_fresh_items_when_readers_click_what_was_just_published() -> None:
    events, published = [], {}
    t = 1_700_000_000.0
    for k in range(400):  # an article every 90 s; a reader clicks the newest one a minute later
        published[f"new-{k}"] = t
        events.append((f"u{k}", f"new-{k}", 1.0, t + 60.0, None))
        events.append((f"v{k}", f"old-{k % 7}", 1.0, t + 70.0, None))
        t += 90.0
    cut = events[len(events) // 2][3]
    without, _ = tune_stream_weights(NextItemModel(), events, cut, max_cases=300)
    weights, report = tune_stream_weights(NextItemModel(), events, cut, max_cases=300, published=published)
    assert without["fresh"] == 0.0 and weights["fresh"] > 0
    assert report["blend_ndcg_at_10"] > report["model_ndcg_at_10"] + 0.2
