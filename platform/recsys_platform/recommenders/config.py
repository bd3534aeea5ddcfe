"""Hyper-parameters of the hybrid recommender (JSON-serialisable, stored in the artifact)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys_platform.recommenders.generators import KINDS, GeneratorConfig, PopularityConfig, default_configs


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

    generators: list[GeneratorConfig] = Field(default_factory=default_configs)
    """Candidate generators to use, each with its own settings (``kind`` selects it; see
    ``recommenders/generators``). One that cannot run (EASE above its ``max_items``, content
    without text or categories) is skipped and recorded in the model. Popularity is always
    there (added with its defaults when not listed): it is the fallback."""
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

    @model_validator(mode="before")
    @classmethod
    def _legacy_flat_form(cls, data: Any) -> Any:
        """Reads the schema-2 form (``generators`` as names, flat ``ease_lambda``-style fields),
        which stored model manifests and tenants' training parameters may still hold."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat = {key: data.pop(key) for key in list(data) if key in _LEGACY_FIELDS}
        names = data.get("generators")
        if isinstance(names, list) and any(isinstance(g, str) for g in names):
            data["generators"] = [{"kind": g} if isinstance(g, str) else g for g in names]
        if flat:
            entries = data.get("generators")
            entries = [{"kind": k} for k in KINDS] if entries is None else entries
            updated = []
            for entry in entries:
                if isinstance(entry, dict):
                    entry = dict(entry)
                    for key, value in flat.items():
                        kind, field = _LEGACY_FIELDS[key]
                        if entry.get("kind") == kind:
                            entry.setdefault(field, value)
                updated.append(entry)
            data["generators"] = updated
        return data

    @model_validator(mode="after")
    def _popularity_always(self) -> HybridConfig:
        kinds = [g.kind for g in self.generators]
        duplicates = sorted({k for k in kinds if kinds.count(k) > 1})
        if duplicates:
            raise ValueError(f"generators: {', '.join(duplicates)} listed more than once")
        if "popularity" not in kinds:
            self.generators.append(PopularityConfig())
        return self

    @property
    def kinds(self) -> list[str]:
        """The configured generator kinds, in the configured order."""
        return [g.kind for g in self.generators]

    def generator(self, kind: str) -> GeneratorConfig | None:
        """The configuration of generator ``kind``, or None when it is not used."""
        return next((g for g in self.generators if g.kind == kind), None)

    def with_generator(self, kind: str, **changes: Any) -> HybridConfig:
        """A copy with generator ``kind``'s settings changed (added with them if absent)."""
        entries = [g.model_dump() for g in self.generators]
        found = next((e for e in entries if e["kind"] == kind), None)
        if found is None:
            entries.append({"kind": kind, **changes})
        else:
            found.update(changes)
        return HybridConfig.model_validate({**self.model_dump(), "generators": entries})


_LEGACY_FIELDS: dict[str, tuple[str, str]] = {
    "ease_lambda": ("ease", "l2"),
    "ease_value_weight": ("ease", "value_weight"),
    "ease_max_items": ("ease", "max_items"),
    "als_factors": ("als", "factors"),
    "als_regularization": ("als", "regularization"),
    "als_alpha": ("als", "alpha"),
    "als_iterations": ("als", "iterations"),
    "knn_neighbours": ("item_knn", "neighbours"),
    "content_max_features": ("content", "max_features"),
    "content_category_weight": ("content", "category_weight"),
    "popularity_half_life_days": ("popularity", "half_life_days"),
}
"""Schema-2 flat field -> (generator kind, its field)."""
