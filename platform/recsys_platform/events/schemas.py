"""The user event: what clients send to ``POST /v1/events`` and what travels in the log."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

EventType = Literal[
    "impression", "view", "click", "add_to_cart", "purchase",
    "rating", "watch", "skip", "like", "share",
]  # fmt: skip
MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)
#: Earliest event time accepted (event times are stored as milliseconds since the epoch).
MIN_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
ENVELOPE_VERSION = 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s\x00]+$")]
ContextValue = str | int | float | bool

#: Examples the OpenAPI document shows (and a test validates).
EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "e-7f3a9c",
    "user_id": "u-1842",
    "session_id": "s-77",
    "item_id": "sku-123",
    "type": "click",
    "timestamp": "2026-11-28T10:00:00Z",
    "context": {"device": "mobile"},
    "recommendation_id": "3b1f0e5c2a7d4e8f9a6b5c4d3e2f1a0b",
}
EXAMPLE_RATING: dict[str, Any] = {
    "event_id": "e-7f3a9d",
    "user_id": "u-1842",
    "item_id": "sku-123",
    "type": "rating",
    "value": 4.5,
    "timestamp": "2026-11-28T10:02:00Z",
}


class Event(BaseModel):
    """One user event. ``event_id`` is the client's idempotency key."""

    # NaN and Infinity are refused (named by field): they are not JSON and poison sums downstream.
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [EXAMPLE_EVENT, EXAMPLE_RATING]},
    )

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$")]
    user_id: Id
    session_id: Id | None = None
    item_id: Id
    type: EventType
    value: float | None = Field(
        default=None, description="A rating (0-10, required for `rating` events) or watch seconds (>= 0)."
    )
    timestamp: datetime
    context: dict[Annotated[str, StringConstraints(max_length=64)], ContextValue] = Field(
        default_factory=dict, max_length=32
    )
    recommendation_id: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a timezone offset, e.g. 2026-11-28T10:00:00Z")
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:30:00+01:00 is before year 1 in UTC
            raise ValueError(f"is out of range in UTC (earliest {MIN_TIMESTAMP.isoformat()})") from None
        if value < MIN_TIMESTAMP:
            raise ValueError(f"is before {MIN_TIMESTAMP.isoformat()}")
        if value > datetime.now(UTC) + MAX_FUTURE:
            raise ValueError("is more than 5 minutes in the future")
        return value

    @field_validator("context", mode="before")
    @classmethod
    def _finite_context(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"context['{k}'] must be a finite number, not {v}")
        return value

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, ContextValue]) -> dict[str, ContextValue]:
        for k, v in value.items():
            if "\x00" in k or (isinstance(v, str) and "\x00" in v):
                raise ValueError("contains a NUL character")
            if isinstance(v, str) and len(v) > 256:
                raise ValueError(f"context['{k}'] is longer than 256 characters")
        return value

    @model_validator(mode="after")
    def _per_type(self) -> Event:
        if self.type == "rating":
            if self.value is None or not 0 <= self.value <= 10:
                raise ValueError("value: a rating needs a value between 0 and 10")
        elif self.type == "watch" and self.value is not None and self.value < 0:
            raise ValueError("value: watch seconds cannot be negative")
        return self

    @property
    def timestamp_ms(self) -> int:
        return int(self.timestamp.timestamp() * 1000)


class EventBatch(BaseModel):
    """1-1,000 events; each is validated on its own (see ``Event``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"events": [EXAMPLE_EVENT]}]})

    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    index: int
    event_id: str | None
    status: Literal["accepted", "rejected", "unavailable"]
    errors: list[dict[str, str]] = Field(default_factory=list)


class EventBatchResult(BaseModel):
    accepted: int
    rejected: int
    unavailable: int
    results: list[EventResult]


def encode_envelope(tenant_id: str, event: Event, received_at: datetime) -> bytes:
    """The log record value: the event plus who sent it and when it arrived."""
    return json.dumps(
        {
            "v": ENVELOPE_VERSION,
            "tenant_id": tenant_id,
            "received_at": received_at.isoformat(),
            "event": event.model_dump(mode="json", exclude_none=True),
        },
        separators=(",", ":"),
    ).encode()


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1]
    tenant_id: str
    received_at: datetime
    event: Event


def decode_envelope(value: bytes) -> Envelope:
    """Parse and validate a log record value; raises ``ValueError`` with the reason."""
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return Envelope.model_validate(raw)
