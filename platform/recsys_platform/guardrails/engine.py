"""Apply a guardrail set to a ranked list: each rule in order, over the first ``n`` positions.

The list holds more candidates than the slate (``n``) when the gateway could ask for them, so a
rule can bring items into the slate (a fresh item, a provider group under its floor) instead of
only reordering. Returns the slate and the labels of the rules that changed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recsys_platform.guardrails.schemas import (
    Boost,
    Bury,
    Condition,
    Diversity,
    Exclude,
    Fairness,
    Freshness,
    GuardrailSet,
    Pin,
    rule_label,
)

Attrs = Mapping[str, Any]


@dataclass(frozen=True)
class Slate:
    items: list[str]
    changed_by: list[str]


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _compare(op: str, have: Any, want: Any) -> bool:
    try:
        if op == "gt":
            return bool(have > want)
        if op == "gte":
            return bool(have >= want)
        if op == "lt":
            return bool(have < want)
        if op == "lte":
            return bool(have <= want)
    except TypeError:
        return False
    return False


def matches(cond: Condition, attrs: Attrs) -> bool:
    values = _values(attrs.get(cond.field))
    if cond.op == "eq":
        return cond.value in values
    if cond.op == "ne":
        return cond.value not in values
    if cond.op == "in":
        return any(v in cond.value for v in values)  # type: ignore[operator]
    if cond.op == "not_in":
        return not any(v in cond.value for v in values)  # type: ignore[operator]
    if cond.op == "contains":
        return any(isinstance(v, str) and str(cond.value) in v for v in values)
    return any(_compare(cond.op, v, cond.value) for v in values)


def exposure(position: int) -> float:
    """Position-weighted exposure of a 1-based position (the DCG discount)."""
    return 1.0 / math.log2(1 + position)


def group_share(items: Sequence[str], in_group: Callable[[str], bool], n: int) -> float:
    top = items[:n]
    total = sum(exposure(p + 1) for p in range(len(top)))
    mine = sum(exposure(p + 1) for p, item in enumerate(top) if in_group(item))
    return mine / total if total else 0.0


def apply_guardrails(
    rules: GuardrailSet,
    items: Sequence[str],
    attributes: Mapping[str, Attrs],
    n: int,
    now: datetime | None = None,
) -> Slate:
    """The first ``n`` items after every rule, and the rules that changed them."""
    now = now or datetime.now(UTC)
    current = list(dict.fromkeys(items))
    changed: list[str] = []

    def attrs(item: str) -> Attrs:
        return attributes.get(item, {})

    for index, rule in enumerate(rules.rules):
        before = current[:n]
        if isinstance(rule, Exclude):
            current = [i for i in current if not all(matches(c, attrs(i)) for c in rule.where)]
        elif isinstance(rule, Bury):
            buried = [i for i in current if all(matches(c, attrs(i)) for c in rule.where)]
            current = [i for i in current if i not in set(buried)] + buried
        elif isinstance(rule, Pin):
            hit: str | None = next(
                (i for i in current if all(matches(c, attrs(i)) for c in rule.where)), None
            )
            if hit is not None:
                current.remove(hit)
                current.insert(min(rule.position - 1, len(current)), hit)
        elif isinstance(rule, Boost):
            floor = 0  # boosted items keep their order among themselves
            for item in [i for i in current if all(matches(c, attrs(i)) for c in rule.where)]:
                at = current.index(item)
                to = max(floor, at - rule.by)
                current.insert(to, current.pop(at))
                floor = to + 1
        elif isinstance(rule, Diversity):
            current = _diversify(current, rule, attrs, n)
        elif isinstance(rule, Freshness):
            current = _freshen(current, rule, attrs, n, now)
        elif isinstance(rule, Fairness):
            current = _fair(current, rule, attrs, n)
        if current[:n] != before:
            changed.append(rule_label(index, rule))
    return Slate(current[:n], changed)


def _diversify(items: list[str], rule: Diversity, attrs: Callable[[str], Attrs], n: int) -> list[str]:
    cap = max(1, math.floor(rule.max_share * min(n, len(items)) + 1e-9))
    counts: dict[Any, int] = {}
    taken: list[str] = []
    deferred: list[str] = []
    for item in items:
        values = _values(attrs(item).get(rule.field))
        if len(taken) < n and all(counts.get(v, 0) < cap for v in values):
            taken.append(item)
            for v in values:
                counts[v] = counts.get(v, 0) + 1
        else:
            deferred.append(item)
    return taken + deferred  # too few other values: the slate fills up from the deferred ones


def _is_fresh(value: Any, cutoff: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at >= cutoff


def _freshen(
    items: list[str], rule: Freshness, attrs: Callable[[str], Attrs], n: int, now: datetime
) -> list[str]:
    cutoff = now - timedelta(hours=rule.newer_than_hours)
    fresh = [_is_fresh(attrs(i).get(rule.field), cutoff) for i in items]
    size = min(n, len(items))
    need = math.ceil(rule.min_share * size - 1e-9) - sum(fresh[:size])
    top, rest = list(items[:size]), list(items[size:])
    incoming = [i for i, f in zip(items[size:], fresh[size:], strict=True) if f]
    displaced: list[str] = []
    # replace the lowest stale items of the slate with the best fresh ones from below it
    for slot in range(size - 1, -1, -1):
        if need <= 0 or not incoming:
            break
        if not fresh[slot]:
            item = incoming.pop(0)
            rest.remove(item)
            displaced.insert(0, top[slot])
            top[slot] = item
            need -= 1
    return top + displaced + rest


def _fair(items: list[str], rule: Fairness, attrs: Callable[[str], Attrs], n: int) -> list[str]:
    def in_group(item: str) -> bool:
        return rule.group in _values(attrs(item).get(rule.field))

    out = list(items)
    for _ in range(len(out) * min(n, len(out)) + 1):
        share = group_share(out, in_group, n)
        moved = False
        if rule.floor is not None and share < rule.floor - 1e-9:
            # bubble the best-placed group item that has a non-group item just above it one step up
            for p in range(1, len(out)):
                if in_group(out[p]) and not in_group(out[p - 1]):
                    out[p - 1], out[p] = out[p], out[p - 1]
                    moved = True
                    break
        elif rule.cap is not None and share > rule.cap + 1e-9:
            # sink the lowest group item of the slate that has a non-group item just below it
            for p in range(min(n, len(out) - 1) - 1, -1, -1):
                if in_group(out[p]) and not in_group(out[p + 1]):
                    out[p], out[p + 1] = out[p + 1], out[p]
                    moved = True
                    break
        if not moved:
            break
    return out
