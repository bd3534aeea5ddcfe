"""Deterministic A/B assignment: the same (tenant, experiment, user) always gets the same variant.

The user's point in [0, 1) comes from SHA-256 of the three ids, so assignment needs no
state, is the same on every gateway replica, and is independent across experiments (the
experiment name is part of the hash). Weights need not sum to 1; they are normalised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

_SCALE = float(1 << 64)


@dataclass(frozen=True)
class Assignment:
    """The chosen variant and the probability it had of being chosen (the propensity)."""

    variant: str
    probability: float


def bucket(tenant_id: str, experiment: str, user_id: str) -> float:
    """The user's uniform point in [0, 1) for this experiment."""
    digest = hashlib.sha256(f"{tenant_id}\x1f{experiment}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_variant(
    tenant_id: str, experiment: str, user_id: str, weights: Sequence[tuple[str, float]]
) -> Assignment:
    """Pick a variant by weight. Raises ``ValueError`` when no weight is positive."""
    total = sum(w for _, w in weights if w > 0)
    if not weights or total <= 0:
        raise ValueError("weights: at least one variant needs a positive weight")
    point = bucket(tenant_id, experiment, user_id) * total
    upto = 0.0
    chosen = weights[-1]
    for name, weight in weights:
        if weight <= 0:
            continue
        upto += weight
        if point < upto:
            chosen = (name, weight)
            break
    return Assignment(variant=chosen[0], probability=chosen[1] / total)
