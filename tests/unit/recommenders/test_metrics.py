"""Ranking metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from recsys_platform.recommenders import metrics
from scipy.sparse import csr_matrix


@pytest.fixture
def case() -> tuple[np.ndarray, csr_matrix]:
    """User 0: hits at ranks 1 and 3 of 3, 4 relevant. User 1: hit at rank 2, 1 relevant."""
    relevant = np.zeros((2, 10))
    relevant[0, [1, 3, 8, 9]] = 1
    relevant[1, [5]] = 1
    recommended = np.array([[1, 2, 3], [4, 5, 6]])
    return recommended, csr_matrix(relevant)


def test_precision_and_recall(case: tuple[np.ndarray, csr_matrix]) -> None:
    rec, rel = case
    assert metrics.precision_at_k(rec, rel, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert metrics.recall_at_k(rec, rel, 3) == pytest.approx((2 / 4 + 1 / 1) / 2)


def test_map_divides_by_relevant_and_map_at_k_by_min_relevant_k(
    case: tuple[np.ndarray, csr_matrix],
) -> None:
    rec, rel = case
    ap0 = 1 / 1 + 2 / 3
    assert metrics.mean_average_precision(rec, rel) == pytest.approx((ap0 / 4 + (1 / 2) / 1) / 2)
    assert metrics.map_at_k(rec, rel, 3) == pytest.approx((ap0 / 3 + (1 / 2) / 1) / 2)


def test_ndcg_uses_natural_log_discount_and_truncated_ideal(case: tuple[np.ndarray, csr_matrix]) -> None:
    rec, rel = case
    d = [1 / math.log(1 + r) for r in (1, 2, 3)]
    user0 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    user1 = d[1] / d[0]
    assert metrics.ndcg_at_k(rec, rel, 3) == pytest.approx((user0 + user1) / 2)


def test_perfect_list_scores_one() -> None:
    rel = csr_matrix(np.array([[1, 1, 0, 0]]))
    rec = np.array([[0, 1, 2]])
    result = metrics.evaluate(rec, rel, 3)
    assert result.ndcg_at_k == pytest.approx(1.0)
    assert result.map == pytest.approx(1.0)
    assert result.recall_at_k == pytest.approx(1.0)
    assert result.precision_at_k == pytest.approx(2 / 3)


def test_users_without_relevant_items_are_not_averaged() -> None:
    rel = csr_matrix(np.array([[1, 0, 0], [0, 0, 0]]))
    rec = np.array([[0, 1], [1, 2]])
    assert metrics.precision_at_k(rec, rel, 2) == pytest.approx(0.5)
    assert metrics.evaluate(rec, rel, 2).users == 1


def test_padding_counts_as_miss_and_coverage_counts_distinct_items() -> None:
    rel = csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0]]))
    rec = np.array([[1, -1], [1, 2]])
    assert metrics.precision_at_k(rec, rel, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert metrics.catalog_coverage_at_k(rec, n_items=4, k=2) == pytest.approx(2 / 4)


def test_k_truncates_longer_lists(case: tuple[np.ndarray, csr_matrix]) -> None:
    rec, rel = case
    assert metrics.precision_at_k(rec, rel, 1) == pytest.approx((1 + 0) / 2)
