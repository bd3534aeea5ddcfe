"""Temporal split and model evaluation, including the cold-start slice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from recsys_platform.recommenders.data import Interactions, train_histories
from recsys_platform.recommenders.evaluation import evaluate_model, temporal_split
from recsys_platform.recommenders.exceptions import InsufficientDataError


def test_temporal_split_puts_the_latest_events_in_test(topic_data: tuple[Any, Any]) -> None:
    log, _ = topic_data
    train, test = temporal_split(log, 0.25)
    assert train.timestamps is not None and test.timestamps is not None
    assert train.timestamps.max() < test.timestamps.min()
    assert len(train) + len(test) == len(log)
    assert abs(len(test) / len(log) - 0.25) < 0.01


def test_temporal_split_refuses_bad_input(topic_data: tuple[Any, Any]) -> None:
    log, _ = topic_data
    with pytest.raises(ValueError, match="holdout_fraction"):
        temporal_split(log, 1.5)
    untimed = Interactions(log.user_ids, log.item_ids, log.values, None)
    with pytest.raises(InsufficientDataError, match="timestamps"):
        temporal_split(untimed)


def test_histories_are_most_recent_first() -> None:
    log = Interactions(
        np.asarray(["u", "u", "u", "v"]),
        np.asarray(["a", "b", "a", "c"]),
        np.ones(4),
        np.asarray([1, 2, 3, 4]),
    )
    assert train_histories(log) == {"u": ["a", "b"], "v": ["c"]}


def test_evaluate_model_scores_the_topic_model_well_and_reports_the_cold_slice(
    topic_model: Any, topic_data: tuple[Any, Any]
) -> None:
    log, _ = topic_data
    users = np.asarray(log.user_ids).astype(str)
    # hold out the last event of every user; users of topic "food" keep only 2 train events
    last = np.r_[users[1:] != users[:-1], True]
    short = np.char.startswith(users, "food") & (np.arange(len(users)) % 8 < 5)
    train_mask = ~last & ~short
    train = Interactions(
        log.user_ids[train_mask], log.item_ids[train_mask], log.values[train_mask], log.timestamps[train_mask]
    )
    test = Interactions(log.user_ids[last], log.item_ids[last], log.values[last], log.timestamps[last])
    result = evaluate_model(topic_model, train, test, k=10, cold_start_max_history=3)
    assert result["users"] == 80
    assert result["cold_users"] == 20
    assert 0.0 < result["ndcg_at_10"] <= 1.0
    assert result["recall_at_10"] >= 0.2
    assert {"map_at_10", "precision_at_10", "coverage_at_10", "cold_ndcg_at_10"} <= result.keys()
