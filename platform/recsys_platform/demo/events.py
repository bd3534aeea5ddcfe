"""Demo user events for the embedded platform: a few users clicking demo items."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any


def demo_events(
    items: list[dict[str, Any]], users: int = 20, per_user: int = 8, seed: int = 7
) -> list[dict[str, Any]]:
    """Clicks with a taste: each user prefers one category of the catalog."""
    rng = random.Random(seed)
    by_category: dict[str, list[str]] = {}
    for item in items:
        category = item.get("category") or (item.get("genres") or ["all"])[0]
        by_category.setdefault(category, []).append(item["item_id"])
    categories = sorted(by_category)
    start = datetime.now(UTC) - timedelta(minutes=30)
    events = []
    for u in range(users):
        favourite = categories[u % len(categories)]
        for n in range(per_user):
            pool = by_category[favourite] if rng.random() < 0.8 else by_category[rng.choice(categories)]
            events.append(
                {
                    "event_id": f"demo-{u}-{n}",
                    "user_id": f"demo-user-{u}",
                    "session_id": f"demo-session-{u}",
                    "item_id": rng.choice(pool),
                    "type": "click",
                    "timestamp": (start + timedelta(seconds=60 * n + u)).isoformat(),
                }
            )
    return events
