"""Demo user events for the embedded platform: a generated interaction history with taste.

No third-party data: users are drawn with one or two favourite categories, items within a
category have a skewed (Zipf-like) popularity, and each user's clicks are spread over the
last ``days`` days, so the history has the structure the recommenders learn from
(collaborative signal inside categories, popular items, a time order for the temporal
hold-out) and a demo run trains a model that beats popularity.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any


def item_category(item: dict[str, Any]) -> str:
    """The demo catalogs' main category: ``category`` (news, shop) or the first genre (video)."""
    category = item.get("category") or (item.get("genres") or ["all"])[0]
    return str(category)


def demo_events(
    items: list[dict[str, Any]],
    users: int = 120,
    per_user: int = 16,
    days: float = 14.0,
    seed: int = 7,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Clicks of ``users`` users, ``per_user`` each (distinct items), oldest first per user.

    User ``u`` prefers category ``u mod #categories`` (80% of clicks) and, for odd ``u``, a
    second one; inside a category item ``r`` (by rank) is drawn with weight ``1 / (r + 1)``.
    Event ids are stable (``demo-<user>-<n>``), so re-sending the history is idempotent.
    The last user's last event is the newest event of the list.
    """
    rng = random.Random(seed)
    by_category: dict[str, list[str]] = {}
    for item in items:
        by_category.setdefault(item_category(item), []).append(item["item_id"])
    categories = sorted(by_category)
    weights = {c: [1.0 / (r + 1) for r in range(len(ids))] for c, ids in by_category.items()}
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    span = timedelta(days=days).total_seconds()
    events: list[dict[str, Any]] = []
    for u in range(users):
        favourites = [categories[u % len(categories)]]
        if u % 2 and len(categories) > 1:
            favourites.append(categories[(u * 7 + 3) % len(categories)])
        # each user is active in a window of the period; the last user is active until now
        active_from = rng.uniform(0.0, 0.5) * span if u < users - 1 else 0.6 * span
        times = sorted(rng.uniform(active_from, span) for _ in range(per_user))
        if u == users - 1:
            times[-1] = span - 1.0
        seen: set[str] = set()
        for n, offset in enumerate(times):
            for _ in range(20):  # draw a not-yet-clicked item
                category = rng.choice(favourites) if rng.random() < 0.8 else rng.choice(categories)
                item_id = rng.choices(by_category[category], weights=weights[category])[0]
                if item_id not in seen:
                    break
            seen.add(item_id)
            events.append(
                {
                    "event_id": f"demo-{u}-{n}",
                    "user_id": f"demo-user-{u}",
                    "session_id": f"demo-session-{u}-{int(offset // 3600)}",
                    "item_id": item_id,
                    "type": "click",
                    "timestamp": (start + timedelta(seconds=offset)).isoformat(),
                }
            )
    return events
