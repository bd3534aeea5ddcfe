"""A tenant's bandit policy per surface: mode, exploration rate, reward definition."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PolicyMode = Literal["off", "apprentice", "online"]
#: Surface names are the gateway's ``surface`` (``home``, ``watch-next``, ...).
SURFACE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class RewardDefinition(BaseModel):
    """How events on a shown item become the reward of the decision that placed it.

    A slot's reward is the largest of its events' rewards (a click then a watch counts the
    better one; a redelivered event changes nothing). Slots without any event by the end of
    ``wait_seconds`` get ``default``.
    """

    model_config = ConfigDict(extra="forbid")

    click: float = Field(default=1.0, ge=-10, le=10)
    """Reward of a click on the item."""
    watch: float = Field(default=1.0, ge=-10, le=10)
    """Reward of a full watch; a partial watch gets ``watch * seconds / duration``."""
    duration_field: str = Field(default="duration_seconds", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Catalog field holding the item's length in seconds (watch time is divided by it)."""
    skip: float = Field(default=-0.5, ge=-10, le=10)
    """Reward of an explicit skip (0 or negative)."""
    default: float = Field(default=0.0, ge=-10, le=10)
    """Reward of a shown item with no event within the wait window."""
    wait_seconds: int = Field(default=600, ge=1, le=7 * 86400)
    """Reward wait window after the impression; later events are counted as expired and dropped."""


class PolicyConfig(BaseModel):
    """``PUT /v1/tenants/{tenant}/policies/{surface}``."""

    model_config = ConfigDict(extra="forbid")

    mode: PolicyMode = "off"
    """``off``: the ranker's list as is. ``apprentice``: the ranker's list, logged with probability
    1 and learned from. ``online``: the policy orders the slate and picks variants, exploring."""
    exploration: float = Field(default=0.1, ge=0.0, le=1.0)
    """Epsilon: the share of decisions taken uniformly at random among the candidates."""
    candidates: int = Field(default=20, ge=1, le=100)
    """How many of the ranker's top items the policy chooses from."""
    slots: int = Field(default=10, ge=1, le=50)
    """How many leading positions of the slate the policy fills (the rest keep the ranker's order)."""
    reward: RewardDefinition = RewardDefinition()
    """The per-tenant reward definition."""


class PolicyPublic(PolicyConfig):
    """A policy with its learning state."""

    tenant_id: str
    surface: str
    checkpoint_version: str | None = None
    """MLflow version of the checkpoint serving now (None: untrained, the ranker order)."""
    learned: int = 0
    """Decisions (slates) learned from and held by the checkpoint."""
    last_reward_at: datetime | None = None
    """When a decision last closed with a reward (stale when long ago)."""
    updated_at: datetime | None = None


class PolicyList(BaseModel):
    items: list[PolicyPublic]
