"""Fitting the hybrid's arrays: interaction values as confidence in EASE, item time histograms."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.data import Interactions
from recsys_platform.recommenders.generators import EaseConfig, EaseGenerator, ItemKnnConfig
from recsys_platform.recommenders.generators.ease import value_weighted
from recsys_platform.recommenders.model_state import ModelState, fit_state, time_histograms
from recsys_platform.recommenders.scoring import TIME_FEATURES, time_features


def _log(values: list[float]) -> Interactions:
    users = ["u1", "u1", "u2", "u2", "u3", "u3"]
    items = ["a", "b", "a", "c", "b", "c"]
    return Interactions(np.asarray(users), np.asarray(items), np.asarray(values, dtype=np.float64), None)


def test_equal_values_leave_the_matrix_binary() -> None:
    log = _log([1.0] * 6)
    matrix, users, items = log.to_matrix(binary=True)
    assert value_weighted(matrix, users, items, log, 0.25) is matrix


def test_higher_values_get_more_weight_and_zero_weight_is_binary() -> None:
    log = _log([5.0, 1.0, 3.0, 3.0, 4.0, 2.0])
    matrix, users, items = log.to_matrix(binary=True)
    weighted = value_weighted(matrix, users, items, log, 0.25).toarray()
    u1 = int(users.lookup(np.asarray(["u1"]))[0])
    a, b = items.lookup(np.asarray(["a", "b"]))
    assert weighted[u1, a] > 1.0 > weighted[u1, b] > 0.0
    assert (weighted > 0).sum() == 6  # same pairs as the binary matrix
    assert value_weighted(matrix, users, items, log, 0.0) is matrix


def test_ratings_change_the_ease_weights_only_when_enabled() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat([f"u{i}" for i in range(30)], 6)
    items = np.asarray([f"i{j}" for j in rng.integers(0, 12, users.shape[0])])
    ratings = rng.integers(1, 6, users.shape[0]).astype(np.float64)
    log = Interactions(users, items, ratings, None)
    base = HybridConfig(generators=[EaseConfig()], ranker=RankerConfig(enabled=False))
    plain = fit_state(log, None, base.with_generator("ease", value_weight=0.0), None)
    binary_log = Interactions(users, items, np.ones_like(ratings), None)
    same = fit_state(binary_log, None, base, None)
    rated = fit_state(log, None, base, None)
    plain_w, same_w, rated_w = (ease_weights(s) for s in (plain, same, rated))
    np.testing.assert_allclose(plain_w, same_w, rtol=1e-6)
    assert not np.allclose(plain_w, rated_w)


def ease_weights(state: ModelState) -> npt.NDArray[np.float32]:
    generator = state.generators["ease"]
    assert isinstance(generator, EaseGenerator)
    return generator.weights


def test_time_histograms_need_a_time_span() -> None:
    cols = np.asarray([0, 1, 1])
    assert time_histograms(cols, np.zeros(3), 2, 8) == (None, None)
    assert time_histograms(cols, np.asarray([0.0, 5.0, 10.0]), 2, 0) == (None, None)
    hist, glob = time_histograms(cols, np.asarray([0.0, 5.0, 10.0]), 3, 2)
    assert hist is not None and glob is not None
    np.testing.assert_allclose(hist, [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert glob.sum() == np.float32(1.0) and (glob > 0).all()


def test_items_consumed_when_the_history_was_are_scored_higher() -> None:
    # items a*, b* are read by everyone in the first week, c*, d* in the last week
    users, items, times = [], [], []
    for u in range(10):
        for k, item in enumerate(("a1", "a2", "b1")):
            users.append(f"early{u}")
            items.append(item)
            times.append(86400.0 * (u % 5) + k)
        for k, item in enumerate(("c1", "c2", "d1")):
            users.append(f"late{u}")
            items.append(item)
            times.append(86400.0 * (60 + u % 5) + k)
    log = Interactions(np.asarray(users), np.asarray(items), np.ones(len(users)), np.asarray(times))
    state = fit_state(log, None, HybridConfig(generators=[ItemKnnConfig()], time_bins=16), None)
    index = {str(i): n for n, i in enumerate(state.item_ids)}
    history = np.asarray([index["a1"], index["a2"]])
    candidates = np.asarray([index["b1"], index["d1"]])
    values = time_features(state, history, candidates)
    assert values.shape == (2, len(TIME_FEATURES))
    assert (values[0] > values[1]).all()
    no_time = fit_state(log, None, HybridConfig(generators=[ItemKnnConfig()], time_bins=0), None)
    assert not time_features(no_time, history, candidates).any()
