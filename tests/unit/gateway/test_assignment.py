"""Assignment is sticky, follows the weights and is independent across experiments."""

from __future__ import annotations

from collections import Counter

import pytest
from recsys_platform.gateway.assignment import assign_variant, bucket

AB = [("control", 1.0), ("treatment", 1.0)]


def test_same_user_always_gets_the_same_variant() -> None:
    first = [assign_variant("acme", "exp", f"u{i}", AB).variant for i in range(500)]
    again = [assign_variant("acme", "exp", f"u{i}", AB).variant for i in range(500)]
    assert first == again


@pytest.mark.parametrize("weights", [[("a", 50), ("b", 50)], [("a", 10), ("b", 30), ("c", 60)]])
def test_weights_are_respected_over_100k_users(weights: list[tuple[str, float]]) -> None:
    counts = Counter(assign_variant("acme", "exp", f"user-{i}", weights).variant for i in range(100_000))
    total = sum(w for _, w in weights)
    for name, w in weights:
        assert counts[name] / 100_000 == pytest.approx(w / total, abs=0.01)


def test_propensity_is_the_normalised_weight() -> None:
    got = assign_variant("acme", "exp", "u1", [("a", 1), ("b", 3)])
    assert got.probability == pytest.approx(0.25 if got.variant == "a" else 0.75)


def test_experiments_are_independent() -> None:
    users = [f"u{i}" for i in range(20_000)]
    first = [assign_variant("acme", "exp-1", u, AB).variant for u in users]
    second = [assign_variant("acme", "exp-2", u, AB).variant for u in users]
    joint = Counter(zip(first, second, strict=True))
    for cell in joint.values():  # independent halves: each of the 4 cells holds about a quarter
        assert cell / len(users) == pytest.approx(0.25, abs=0.02)


def test_tenant_is_part_of_the_hash() -> None:
    assert bucket("acme", "exp", "u1") != bucket("globex", "exp", "u1")


def test_zero_weight_variant_is_never_chosen_and_all_zero_is_refused() -> None:
    assert {assign_variant("t", "e", f"u{i}", [("a", 0), ("b", 1)]).variant for i in range(1000)} == {"b"}
    with pytest.raises(ValueError, match="weights"):
        assign_variant("t", "e", "u", [("a", 0)])
