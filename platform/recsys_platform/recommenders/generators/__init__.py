"""Candidate generators as plug-ins: one file each, one contract (``base.Generator``), a registry.

``GeneratorConfig`` is the discriminated union (on ``kind``) of every generator's config;
``HybridConfig.generators`` is a list of them. Importing this package registers every
generator in ``REGISTRY``; ``KINDS`` fixes their order, which is the ranker's feature-column
order (a new kind goes at the end, so older rankers keep their columns).

The streaming generators (trending windows, co-visitation, next-item, session-kNN) are not
here: the stream processor keeps their state together in the online store (one atomic update
per event batch, one read per request; ``recsys_platform.streaming``), and
``recommenders.stream_blend`` merges them with this model's list (docs/adr/0005).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from recsys_platform.recommenders.generators.als import AlsConfig, AlsGenerator
from recsys_platform.recommenders.generators.base import (
    REGISTRY,
    FitData,
    Generator,
    Retrieval,
    SkipGenerator,
    register,
)
from recsys_platform.recommenders.generators.content import ContentConfig, ContentGenerator
from recsys_platform.recommenders.generators.ease import EaseConfig, EaseGenerator
from recsys_platform.recommenders.generators.item_knn import ItemKnnConfig, ItemKnnGenerator
from recsys_platform.recommenders.generators.popularity import PopularityConfig, PopularityGenerator

GeneratorConfig = Annotated[
    EaseConfig | AlsConfig | ItemKnnConfig | ContentConfig | PopularityConfig,
    Field(discriminator="kind"),
]
"""One generator's configuration; ``kind`` selects the generator."""

KINDS: tuple[str, ...] = ("ease", "als", "item_knn", "content", "popularity")
"""Every generator kind, in the ranker's feature-column order."""
_CONFIG = TypeAdapter(GeneratorConfig)


def default_configs() -> list[GeneratorConfig]:
    """Every generator with its default settings, in ``KINDS`` order."""
    return [_CONFIG.validate_python({"kind": kind}) for kind in KINDS]


if set(KINDS) != set(REGISTRY):  # pragma: no cover - a new generator file without its KINDS entry
    raise RuntimeError(f"generator kinds {sorted(REGISTRY)} and KINDS {KINDS} differ")

__all__ = [
    "KINDS",
    "REGISTRY",
    "AlsConfig",
    "AlsGenerator",
    "ContentConfig",
    "ContentGenerator",
    "EaseConfig",
    "EaseGenerator",
    "FitData",
    "Generator",
    "GeneratorConfig",
    "ItemKnnConfig",
    "ItemKnnGenerator",
    "PopularityConfig",
    "PopularityGenerator",
    "Retrieval",
    "SkipGenerator",
    "default_configs",
    "register",
]
