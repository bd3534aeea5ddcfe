"""Wilson intervals and z-test p-values against published reference values."""

from __future__ import annotations

import pytest
from recsys_platform.experiments.stats import two_proportion_p_value, wilson_interval


def test_wilson_interval_matches_reference() -> None:
    # 81 successes of 263 trials: Wilson 95% = (0.2553, 0.3662) (statsmodels proportion_confint)
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.1
    low, high = wilson_interval(50, 50)
    assert high == pytest.approx(1.0) and 0.9 < low < 1


def test_two_proportion_p_value_matches_reference() -> None:
    # 200/2000 vs 260/2000: z = 2.98, two-sided p = 0.0029
    p = two_proportion_p_value(200, 2000, 260, 2000)
    assert p is not None and p == pytest.approx(0.00288, abs=2e-4)
    same = two_proportion_p_value(100, 1000, 100, 1000)
    assert same == pytest.approx(1.0)


def test_two_proportion_p_value_undefined_cases() -> None:
    assert two_proportion_p_value(0, 0, 1, 10) is None
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
