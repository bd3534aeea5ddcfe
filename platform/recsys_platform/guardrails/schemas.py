"""The guardrail set of a surface: ordered rules over item attributes, checked at write time."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
Scalar = str | int | float | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(Strict):
    """``attribute <op> value``; a missing attribute matches only ``ne``/``not_in``."""

    field: FieldName
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains"] = "eq"
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"value: '{self.op}' needs a list")
        if self.op not in ("in", "not_in") and isinstance(self.value, list):
            raise ValueError(f"value: '{self.op}' needs a single value")
        return self


class _Rule(Strict):
    name: str | None = Field(default=None, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Label of the rule in metrics (default: ``<index>-<type>``)."""


class _Matching(_Rule):
    where: list[Condition] = Field(min_length=1, max_length=10)
    """All conditions hold (AND)."""


class Pin(_Matching):
    type: Literal["pin"]
    position: int = Field(ge=1, le=100)
    """1-based position of the first matching item."""


class Boost(_Matching):
    type: Literal["boost"]
    by: int = Field(ge=1, le=100)
    """Positions each matching item moves up."""


class Bury(_Matching):
    type: Literal["bury"]


class Exclude(_Matching):
    type: Literal["exclude"]


class Diversity(_Rule):
    type: Literal["diversity"]
    field: FieldName
    """Category attribute (string or string list: an item counts for each of its values)."""
    max_share: float = Field(gt=0, le=1)
    """Largest share of the slate one value may take."""


class Freshness(_Rule):
    type: Literal["freshness"]
    field: FieldName = "published_at"
    """Timestamp attribute."""
    newer_than_hours: float = Field(gt=0, le=24 * 3650)
    min_share: float = Field(gt=0, le=1)
    """Smallest share of the slate that must be newer than the threshold."""


class Fairness(_Rule):
    type: Literal["fairness"]
    field: FieldName
    """Provider-group attribute."""
    group: Scalar
    floor: float | None = Field(default=None, ge=0, le=1)
    """Smallest share of the slate's position-weighted exposure (1/log2(1+position)) for the group."""
    cap: float | None = Field(default=None, ge=0, le=1)
    """Largest share of the exposure for the group."""

    @model_validator(mode="after")
    def _bounds(self) -> Fairness:
        if self.floor is None and self.cap is None:
            raise ValueError("floor/cap: set at least one")
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ValueError(f"floor: {self.floor} is above cap {self.cap}")
        return self


Rule = Annotated[Pin | Boost | Bury | Exclude | Diversity | Freshness | Fairness, Field(discriminator="type")]


def rule_label(index: int, rule: Any) -> str:
    return str(rule.name or f"{index}-{rule.type}")


class GuardrailSet(Strict):
    """``PUT /v1/tenants/{tenant}/guardrails/{surface}``: rules applied in order to every slate."""

    slate_size: int = Field(default=10, ge=1, le=100)
    """The slate length the rules are checked against at write time (the usual ``n``)."""
    rules: list[Rule] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _satisfiable(self) -> GuardrailSet:
        """Refuse sets that no slate of ``slate_size`` can satisfy, naming the rule."""
        n = self.slate_size
        pinned: dict[int, int] = {}
        floors: dict[tuple[str, str], float] = {}
        for i, rule in enumerate(self.rules):
            if isinstance(rule, Pin):
                if rule.position > n:
                    raise ValueError(f"rules[{i}].position: {rule.position} is beyond the slate of {n}")
                if rule.position in pinned:
                    raise ValueError(
                        f"rules[{i}].position: {rule.position} is pinned by rules[{pinned[rule.position]}]"
                    )
                pinned[rule.position] = i
            elif isinstance(rule, Freshness):
                need = math.ceil(rule.min_share * n - 1e-9)
                if need > n - len(pinned):
                    raise ValueError(
                        f"rules[{i}].min_share: needs {need} fresh items but only {n - len(pinned)} of "
                        f"{n} positions are not pinned"
                    )
            elif isinstance(rule, Diversity):
                if math.floor(rule.max_share * n + 1e-9) < 1:
                    raise ValueError(
                        f"rules[{i}].max_share: {rule.max_share} of {n} items allows no item of any value"
                    )
            elif isinstance(rule, Fairness) and rule.floor is not None:
                key = (rule.field, "")
                floors[key] = floors.get(key, 0.0) + rule.floor
                if floors[key] > 1 + 1e-9:
                    raise ValueError(
                        f"rules[{i}].floor: exposure floors on '{rule.field}' add up to more than 1"
                    )
        return self


class GuardrailSetPublic(GuardrailSet):
    tenant_id: str
    surface: str
    updated_at: datetime | None = None
