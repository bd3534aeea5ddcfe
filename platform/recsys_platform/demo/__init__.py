"""A small generated catalog per use case for demos (no third-party data).

Generated deterministically by :func:`generate`; the committed JSON Lines files are
its output, and a test checks they still match.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).parent

_NEWS = {
    "sports": ["match", "league", "coach", "season", "final", "transfer", "goal", "injury"],
    "politics": ["election", "senate", "policy", "vote", "budget", "campaign", "reform", "debate"],
    "technology": ["chip", "startup", "software", "privacy", "robot", "cloud", "battery", "launch"],
    "health": ["vaccine", "diet", "study", "hospital", "sleep", "fitness", "virus", "therapy"],
    "finance": ["market", "stocks", "inflation", "rates", "earnings", "bank", "crypto", "housing"],
    "entertainment": ["film", "album", "festival", "series", "award", "concert", "premiere", "star"],
}
_SHOP = {
    "electronics": (["headphones", "charger", "speaker", "keyboard", "monitor", "webcam"], (15, 400)),
    "home": (["lamp", "pillow", "kettle", "rug", "shelf", "blanket"], (8, 150)),
    "outdoor": (["tent", "backpack", "bottle", "jacket", "boots", "stove"], (10, 300)),
    "books": (["novel", "cookbook", "atlas", "biography", "guide", "anthology"], (5, 40)),
    "toys": (["puzzle", "blocks", "kite", "robot kit", "board game", "plush"], (5, 80)),
}
_ADJ = ["new", "bold", "quiet", "surprising", "major", "small", "record", "local", "global", "late"]
_BRANDS = ["acme", "northwind", "contoso", "globex", "initech", "umbrella"]
_GENRES = ["drama", "comedy", "thriller", "documentary", "animation", "sci-fi", "romance", "horror"]


def generate(use_case: str, n: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic demo items shaped like the use case's catalog template."""
    rng = random.Random(f"{use_case}-{seed}")
    items: list[dict[str, Any]] = []
    for i in range(n):
        if use_case == "news":
            cat = rng.choice(sorted(_NEWS))
            words = rng.sample(_NEWS[cat], 3)
            items.append(
                {
                    "item_id": f"n{i:04d}",
                    "title": f"{rng.choice(_ADJ).title()} {words[0]} {words[1]} news",
                    "abstract": f"A {rng.choice(_ADJ)} story about {words[0]}, {words[1]} and {words[2]}.",
                    "category": cat,
                    "tags": words,
                    "published_at": f"2026-11-{1 + i % 27:02d}T{i % 24:02d}:00:00+00:00",
                }
            )
        elif use_case == "ecommerce":
            cat = rng.choice(sorted(_SHOP))
            nouns, (lo, hi) = _SHOP[cat]
            noun = rng.choice(nouns)
            brand = rng.choice(_BRANDS)
            items.append(
                {
                    "item_id": f"p{i:04d}",
                    "title": f"{brand.title()} {rng.choice(_ADJ)} {noun}",
                    "description": f"A {noun} from {brand} for {cat} lovers.",
                    "category": cat,
                    "brand": brand,
                    "price": round(rng.uniform(lo, hi), 2),
                    "in_stock": rng.random() > 0.1,
                    "tags": [cat, noun],
                }
            )
        elif use_case == "video":
            genres = rng.sample(_GENRES, 2)
            items.append(
                {
                    "item_id": f"v{i:04d}",
                    "title": f"The {rng.choice(_ADJ)} {genres[0]} {i}",
                    "description": f"A {genres[0]} with a touch of {genres[1]}.",
                    "genres": genres,
                    "duration_seconds": rng.randint(600, 9000),
                    "release_date": f"{rng.randint(1990, 2026)}-0{rng.randint(1, 9)}-15T00:00:00+00:00",
                    "maturity_rating": rng.choice(["G", "PG", "PG-13", "R"]),
                }
            )
        else:
            raise ValueError(f"unknown use case {use_case!r}")
    return items


def demo_path(use_case: str) -> Path:
    return DEMO_DIR / f"{use_case}_items.jsonl"


def demo_items(use_case: str) -> list[dict[str, Any]]:
    """The committed demo catalog of a use case."""
    return [json.loads(line) for line in demo_path(use_case).read_text().splitlines() if line]


def write_all() -> None:
    for use_case in ("news", "ecommerce", "video"):
        demo_path(use_case).write_text(
            "".join(json.dumps(item, sort_keys=True) + "\n" for item in generate(use_case))
        )
