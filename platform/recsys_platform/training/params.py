"""Parameters of one training run (request body ``params``), validated strictly."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys_platform.features.state import INTEREST_WEIGHTS

#: Weight of each event type in the training interactions (a rating is scaled by its value): the
#: interest weights of the real-time features, without the negative ones; other types are ignored.
EVENT_WEIGHTS: dict[str, float] = {t: w for t, w in INTEREST_WEIGHTS.items() if w > 0}


class TrainingParams(BaseModel):
    """What a run trains on and how; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    start: date | None = None
    """First event date (UTC) to train on; default: the oldest retained."""
    end: date | None = None
    """Last event date (UTC) to train on, inclusive; default: today."""
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    """Share of the latest events (global time cut) held out to evaluate and gate."""
    min_events: int = Field(default=20, ge=2)
    """Fewer usable events than this fails the run (too little data)."""
    min_users: int = Field(default=2, ge=1)
    """Fewer distinct users than this fails the run."""
    min_items: int = Field(default=2, ge=1)
    """Fewer distinct items than this fails the run."""
    require_content: bool = False
    """Fail when no catalog item has text (the content model is required, e.g. for news)."""
    refit_on_all: bool = True
    """After evaluation, refit on all events (hold-out included) and register that model."""
    promotion_margin: float | None = Field(default=None, ge=0.0, le=1.0)
    """Override the gate's ndcg@10 margin for this run (default from settings)."""
    allow_below_baseline: bool = False
    """Let the gate promote a model that does not beat the popularity baseline on the hold-out."""
    min_holdout_reachability: float = Field(default=0.5, ge=0.0, le=1.0)
    """The gate decides only when at least this share of hold-out interactions is on items the
    model was trained on; below it the champion is kept (and a first model is not promoted)."""
    min_holdout_users: int = Field(default=10, ge=1)
    """The gate decides only when at least this many hold-out users have such an interaction."""
    stream_blend: bool = True
    """Tune the weights of the streaming generators (session-kNN, co-visitation, trending) against
    the model on a point-in-time replay of the hold-out, and serve that blend (unless
    ``model.stream_weights`` is given)."""
    stream_replay_events: int = Field(default=3000, ge=100, le=50_000)
    """Hold-out events replayed point in time for the streaming blend's tuning, its stream ranker
    and the gate's served figures (more: steadier decisions, a longer training run)."""
    stream_ranker: bool = True
    """With the streaming blend, also learn a LightGBM correction of it on the same point-in-time
    replay rows (``stream_blend.fit_stream_ranker``); kept only when it beats the weighted blend
    out of fold by a clear margin."""
    model: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameter overrides, validated as ``HybridConfig`` fields."""

    @model_validator(mode="after")
    def _window(self) -> TrainingParams:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self
