"""Hyper-parameters of the hybrid recommender (JSON-serialisable, stored in the artifact)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GeneratorName = Literal["ease", "als", "item_knn", "content", "popularity"]
GENERATORS: tuple[GeneratorName, ...] = ("ease", "als", "item_knn", "content", "popularity")


def _default_weights() -> dict[str, float]:
    return {"ease": 1.0, "als": 0.6, "item_knn": 0.4, "content": 0.3, "popularity": 0.1}


class RankerConfig(BaseModel):
    """The LightGBM lambdarank stage that re-orders the warm users' candidates."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    validation_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    """Share of each user's most recent training events held out to train the ranker."""
    num_leaves: int = Field(15, ge=2)
    learning_rate: float = Field(0.05, gt=0.0)
    num_rounds: int = Field(300, ge=1)
    min_data_in_leaf: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0.0, le=1.0)
    lambda_l2: float = Field(10.0, ge=0.0)
    blend_init_scale: float = Field(1.0, ge=0.0)
    """The ranker boosts from ``blend_init_scale * blend`` (LightGBM init_score), so it
    starts from the tuned blend and learns corrections; 0 starts from zero."""
    min_gain: float = 0.001
    """The ranker is kept only if its validation nDCG@10 beats the blend's by this much
    (a negative value keeps it even when it is a little worse)."""
    folds: int = Field(1, ge=1, le=5)
    """Validation folds (different random holdouts, generators refitted per fold); more
    folds give the ranker more lists to learn from at the cost of fit time."""
    max_train_users: int = Field(5000, ge=1)
    """At most this many users' candidate lists are used to train the ranker."""
    validation_split: Literal["temporal", "random"] = "temporal"
    """How each user's validation events are chosen: their most recent ones (what serving
    faces) or a random share (matches a random offline test split)."""
    early_stopping_rounds: int = Field(30, ge=1)
    min_users: int = Field(10, ge=1)
    """Fewer validation users with a hit than this: no ranker, the blend ranks."""
    tune: bool = True
    """Grid-search the cold-start blend weights and threshold on the validation users."""


class HybridConfig(BaseModel):
    """All hyper-parameters of :class:`~recsys_platform.recommenders.hybrid.HybridRecommender`."""

    model_config = ConfigDict(extra="forbid")

    generators: list[GeneratorName] = Field(default_factory=lambda: list(GENERATORS))
    """Candidate generators to use; one that cannot run (EASE above its limit, content
    without text or categories) is skipped and recorded in the model."""
    cold_start_threshold: int = Field(5, ge=0)
    """Users with fewer known history items get content + popularity only."""
    candidates_per_generator: int = Field(100, ge=1)
    blend_weights: dict[str, float] = Field(default_factory=_default_weights)
    """Weight of each generator's max-normalised score in the first-stage blend."""
    cold_blend_weights: dict[str, float] = Field(default_factory=dict)
    """Overrides of ``blend_weights`` for cold-start users (content vs popularity)."""
    category_affinity_weight: float = Field(0.2, ge=0.0)
    """Blend bonus per unit of user-category affinity (passed or from the history)."""
    max_history: int = Field(200, ge=1)
    """Only the most recent this many history items are used."""
    min_events: int = Field(10, ge=1)
    min_users: int = Field(2, ge=1)
    min_items: int = Field(2, ge=1)
    # EASE
    ease_lambda: float = Field(500.0, gt=0.0)
    ease_value_weight: float = Field(0.25, ge=0.0)
    """EASE's Gram matrix weights each (user, item) pair by ``1 + w * z``, z = the pair's
    interaction value standardised over all pairs (clipped to +-3; weight at least 0.1), so
    ratings act as confidence. 0 (or values that are all equal) = binary. Serving is
    unchanged: the history rows of the EASE matrix are summed."""
    ease_max_items: int = Field(8_000, ge=1)
    """EASE keeps a dense items x items float32 matrix (8k items = 256 MB) and inverts it at
    fit time, O(n^3) on one thread (about 3 minutes at 15k items here); above this limit it is
    skipped and item-kNN + ALS take over."""
    # ALS
    # defaults chosen on a validation holdout of the MovieLens 100K training split (docs/model.md)
    als_factors: int = Field(64, ge=1)
    als_regularization: float = Field(40.0, ge=0.0)
    als_alpha: float = Field(6.0, ge=0.0)
    als_iterations: int = Field(20, ge=1)
    # item-kNN
    knn_neighbours: int = Field(50, ge=1)
    # content
    content_max_features: int = Field(50_000, ge=1)
    content_category_weight: float = Field(1.0, ge=0.0)
    # popularity
    popularity_half_life_days: float | None = Field(7.0, gt=0.0)
    """Half-life of an interaction's weight in the popularity list; None disables decay."""
    time_bins: int = Field(0, ge=0)
    """Bins of each item's interaction-time histogram over the training span (0 = off, the
    default: on MovieLens validation these ranker features did not help; docs/model.md).
    With bins, the ranker gets ``scoring.TIME_FEATURES``: a candidate's histogram against
    the mean histogram of the history items (items consumed when the user was active)."""
    ranker: RankerConfig = Field(default_factory=RankerConfig)
    stream_weights: dict[str, float] = Field(default_factory=dict)
    """Weight of the model's list (``model``) and of each streaming signal (``session_knn``,
    ``covisit``, ``next_item``, ``trending_<window s>``) in the served blend
    (``recommenders.stream_blend``); empty = the model alone. Set by the training pipeline from a
    point-in-time replay of its hold-out (``tune_stream_weights``) unless given."""
    seed: int = 42
    num_threads: int = Field(1, ge=0)
    """Threads for implicit / LightGBM (1 keeps training deterministic)."""
