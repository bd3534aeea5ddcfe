"""Statistics of A/B results: Wilson score intervals and the two-proportion z-test."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 0) without trials."""
    if trials <= 0:
        return 0.0, 0.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(clicks_a: int, n_a: int, clicks_b: int, n_b: int) -> float | None:
    """Two-sided p-value of H0 "same rate" (pooled z-test); None when it is undefined."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (clicks_a + clicks_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (clicks_b / n_b - clicks_a / n_a) / se
    return math.erfc(abs(z) / math.sqrt(2))
