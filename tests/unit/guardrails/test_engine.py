"""Guardrail rules over a ranked list, and the write-time check of a set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from recsys_platform.guardrails.engine import apply_guardrails, group_share
from recsys_platform.guardrails.schemas import GuardrailSet

NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)
ITEMS = [f"i{k}" for k in range(12)]
ATTRS: dict[str, dict[str, Any]] = {
    f"i{k}": {
        "category": "news" if k < 8 else "sport",
        "provider": "indie" if k >= 9 else "studio",
        "published_at": (NOW - timedelta(hours=1 if k in (10, 11) else 100)).isoformat(),
        "rating": "adult" if k == 2 else "all",
    }
    for k in range(12)
}


def _run(rules: list[dict[str, Any]], n: int = 5) -> tuple[list[str], list[str]]:
    slate = apply_guardrails(GuardrailSet(slate_size=n, rules=rules), ITEMS, ATTRS, n, NOW)  # type: ignore[arg-type]
    return slate.items, slate.changed_by


def test_business_rules_pin_boost_bury_exclude_in_order() -> None:
    items, changed = _run(
        [
            {"type": "exclude", "where": [{"field": "rating", "value": "adult"}]},
            {
                "type": "bury",
                "where": [{"field": "category", "op": "in", "value": ["news"]}],
                "name": "bury-news",
            },
            {"type": "pin", "position": 3, "where": [{"field": "provider", "value": "studio"}]},
            {"type": "boost", "by": 2, "where": [{"field": "category", "value": "news"}]},
        ]
    )
    # excluded i2; news buried below sport; studio's i8 pinned 3rd; news boosted 2 up, in order
    assert items == ["i9", "i10", "i0", "i1", "i3"]
    assert changed == ["0-exclude", "bury-news", "2-pin", "3-boost"]


def test_unchanged_slates_are_not_counted() -> None:
    _, changed = _run([{"type": "exclude", "where": [{"field": "category", "value": "weather"}]}])
    assert changed == []


def test_diversity_caps_each_category_share() -> None:
    items, changed = _run([{"type": "diversity", "field": "category", "max_share": 0.6}])
    assert sum(ATTRS[i]["category"] == "news" for i in items) == 3 and len(items) == 5
    assert changed == ["0-diversity"]


def test_freshness_brings_new_items_into_the_slate() -> None:
    items, _ = _run([{"type": "freshness", "newer_than_hours": 24, "min_share": 0.4}])
    assert {"i10", "i11"} <= set(items) and items[:3] == ["i0", "i1", "i2"]


def test_fairness_floor_and_cap_on_position_weighted_exposure() -> None:
    def indie(item: str) -> bool:
        return ATTRS[item]["provider"] == "indie"

    items, _ = _run([{"type": "fairness", "field": "provider", "group": "indie", "floor": 0.3}])
    assert group_share(items, indie, 5) >= 0.3
    assert group_share(ITEMS, indie, 5) == 0
    capped, _ = _run(
        [
            {"type": "pin", "position": 1, "where": [{"field": "provider", "value": "indie"}]},
            {"type": "fairness", "field": "provider", "group": "indie", "cap": 0.2},
        ]
    )
    assert group_share(capped, indie, 5) <= 0.2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {
                "slate_size": 3,
                "rules": [
                    {"type": "freshness", "newer_than_hours": 1, "min_share": 1.0},
                    {"type": "pin", "position": 1, "where": [{"field": "a", "value": 1}]},
                ],
            },
            None,
        ),
        (
            {
                "slate_size": 3,
                "rules": [
                    {"type": "pin", "position": 1, "where": [{"field": "a", "value": 1}]},
                    {"type": "freshness", "newer_than_hours": 1, "min_share": 1.0},
                ],
            },
            "rules[1].min_share: needs 3 fresh items but only 2 of 3 positions are not pinned",
        ),
        (
            {
                "slate_size": 5,
                "rules": [{"type": "pin", "position": 6, "where": [{"field": "a", "value": 1}]}],
            },
            "rules[0].position: 6 is beyond the slate of 5",
        ),
        (
            {
                "rules": [
                    {"type": "pin", "position": 2, "where": [{"field": "a", "value": 1}]},
                    {"type": "pin", "position": 2, "where": [{"field": "b", "value": 1}]},
                ]
            },
            "rules[1].position: 2 is pinned by rules[0]",
        ),
        (
            {"slate_size": 4, "rules": [{"type": "diversity", "field": "c", "max_share": 0.2}]},
            "allows no item of any value",
        ),
        (
            {
                "rules": [
                    {"type": "fairness", "field": "p", "group": "a", "floor": 0.6},
                    {"type": "fairness", "field": "p", "group": "b", "floor": 0.5},
                ]
            },
            "rules[1].floor: exposure floors on 'p' add up to more than 1",
        ),
        (
            {"rules": [{"type": "fairness", "field": "p", "group": "a", "floor": 0.6, "cap": 0.5}]},
            "above cap",
        ),
        (
            {"rules": [{"type": "exclude", "where": [{"field": "p", "op": "in", "value": "x"}]}]},
            "needs a list",
        ),
    ],
)
def test_unsatisfiable_sets_are_refused_with_the_reason(body: dict[str, Any], reason: str | None) -> None:
    if reason is None:  # a freshness rule before the pin is checked against the free positions then
        GuardrailSet.model_validate(body)
        return
    with pytest.raises(ValidationError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        GuardrailSet.model_validate(body)
