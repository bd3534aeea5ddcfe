"""Features of a bandit decision in Vowpal Wabbit's text format (namespaces, escaped tokens).

Namespaces: ``C`` context (user, device, time of day, request context), ``S`` slot, ``I`` item
(catalog attributes), ``V`` presentation variant, ``R`` the ranker's view (its position).
The same token strings are logged in the impression and learned from by the stream processor,
so what the policy learns from is exactly what it decided on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_BAD = re.compile(r"[\s|:]+")
MAX_LIST_VALUES = 10
#: Catalog field types that become item features (free text and timestamps do not).
FEATURE_TYPES = frozenset({"string", "string_list", "boolean"})


def token(name: str, value: Any = None) -> str:
    """One VW feature: ``name=value`` with separators escaped (``|``, ``:`` and spaces)."""
    text = name if value is None else f"{name}={value}"
    return _BAD.sub("_", text)[:120]


def time_bucket(now: datetime) -> list[str]:
    """Time of day (4 buckets) and weekday/weekend, in the request's clock."""
    hour = now.hour
    tod = "night" if hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    return [token("tod", tod), token("day", "weekend" if now.weekday() >= 5 else "weekday")]


def context_tokens(user_id: str, context: Mapping[str, Any], now: datetime) -> str:
    """The shared context: the user, request context values and the time of day."""
    tokens = [token("user", user_id)]
    for key in sorted(context)[:20]:
        value = context[key]
        if isinstance(value, bool):
            tokens.append(token(key, str(value).lower()))
        elif isinstance(value, int | float):
            if math.isfinite(value):
                tokens.append(f"{token(key)}:{float(value):.6g}")
        elif isinstance(value, str):
            tokens.append(token(key, value[:60]))
    tokens.extend(time_bucket(now))
    return " ".join(tokens)


@dataclass(frozen=True)
class ItemFeatures:
    """An item's feature tokens and its presentation variants ``(id, tokens)``."""

    tokens: str
    variants: tuple[tuple[str, str], ...] = ()


def item_features(
    item_id: str, attributes: Mapping[str, Any], field_types: Mapping[str, str]
) -> ItemFeatures:
    """Item tokens from its catalog attributes (categorical fields only) and its variants."""
    tokens = [token("item", item_id)]
    variants: tuple[tuple[str, str], ...] = ()
    for name, value in attributes.items():
        kind = field_types.get(name)
        if kind == "variants" and isinstance(value, list):
            variants = tuple(
                (str(v["id"]), _variant_tokens(str(v["id"]), v.get("features") or {}))
                for v in value
                if isinstance(v, dict) and "id" in v
            )
        elif kind == "string" and isinstance(value, str):
            tokens.append(token(name, value[:60]))
        elif kind == "string_list" and isinstance(value, list):
            tokens.extend(token(name, str(v)[:60]) for v in value[:MAX_LIST_VALUES])
        elif kind == "boolean" and isinstance(value, bool):
            tokens.append(token(name, str(value).lower()))
    return ItemFeatures(" ".join(tokens), variants)


def _variant_tokens(variant_id: str, features: Mapping[str, Any]) -> str:
    tokens = [token("variant", variant_id)]
    for name in sorted(features):
        value = features[name]
        if isinstance(value, bool):
            tokens.append(token(name, str(value).lower()))
        elif isinstance(value, int | float):
            tokens.append(f"{token(name)}:{float(value):.6g}")
        else:
            tokens.append(token(name, value))
    return " ".join(tokens)


def rank_tokens(position: int) -> str:
    """The ranker's opinion: a decreasing function of its position (0-based)."""
    return f"rank:{1.0 / (1.0 + position):.4f}"


def shared_line(context: str, slot: int) -> str:
    return f"shared |C {context} |S slot={slot}"


def action_line(action: Mapping[str, str], label: str = "") -> str:
    """``[label] |I item tokens |V variant tokens |R rank``."""
    head = f"{label} " if label else ""
    variant = f" |V {action['V']}" if action.get("V") else ""
    return f"{head}|I {action['I']}{variant} |R {action['R']}"
