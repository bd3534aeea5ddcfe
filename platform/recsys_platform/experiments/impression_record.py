"""The impression record: what the gateway logs per served list and the stream processor reads.

Shared by both sides (kept free of web and telemetry imports)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

IMPRESSION_VERSION = 1


@dataclass(frozen=True)
class Impression:
    """One served recommendation list."""

    recommendation_id: str
    tenant_id: str
    user_id: str
    session_id: str | None
    surface: str
    experiment: str | None
    experiment_id: str | None
    variant: str | None
    deployment: str | None
    model_version: str | None
    items: list[str]
    positions: list[int]
    propensities: list[float]
    fallback: bool
    timestamp: datetime
    attribution_window_seconds: int | None = None
    presentations: list[str | None] | None = None
    """Presentation variant shown per item (a bandit policy chose them), or None."""
    bandit: dict[str, Any] | None = None
    """The bandit decision (``bandit.policy.decision_payload``): context, actions, slots with
    their probabilities; None when the tenant's policy is off."""


def encode_impression(imp: Impression) -> bytes:
    body = asdict(imp)
    body["timestamp"] = imp.timestamp.isoformat()
    return json.dumps({"v": IMPRESSION_VERSION, **body}, separators=(",", ":")).encode()


def decode_impression(value: bytes) -> Impression:
    """Parse an impressions-topic record; raises ``ValueError`` naming what is wrong."""
    try:
        raw: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.pop("v", None) != IMPRESSION_VERSION:
        raise ValueError(f"v: expected impression version {IMPRESSION_VERSION}")
    try:
        raw["timestamp"] = datetime.fromisoformat(raw["timestamp"])
        if raw["timestamp"].tzinfo is None:
            raise ValueError("timestamp: needs a timezone")
        imp = Impression(**raw)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"invalid impression: {exc}") from None
    if not imp.recommendation_id or not isinstance(imp.items, list):
        raise ValueError("recommendation_id/items: missing")
    return imp
