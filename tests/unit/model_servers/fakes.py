"""A small stand-in for HybridRecommender (its public API only) and an in-memory user store.

The real model and the real Feast store are exercised by tests/integration/model_servers/.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from recsys_platform.errors import DependencyUnavailable
from recsys_platform.features.state import UserState

NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Scored:
    item_id: str
    score: float
    reason: str
    sources: tuple[str, ...]


@dataclass
class Cfg:
    cold_start_threshold: int = 2


class FakeModel:
    """Items ``i0..i{n-1}``; item ``i{k}`` is in category ``c{k % 3}``; scores fall with the index.

    Warm users get items "after" their most recent item first; cold users get items in index
    order; ``popular`` lists category c0 first, then c1, then c2 (so diversity has work to do).
    Records every call so tests can see what the server asked for.
    """

    def __init__(
        self,
        n_items: int = 30,
        unavailable: Collection[str] = (),
        tag: str = "",
        max_candidates: int = 10_000,
    ) -> None:
        self.item_ids = np.asarray([f"i{k}" for k in range(n_items)])
        self.max_candidates = max_candidates  # like a hybrid whose generators propose only so many
        self.config = Cfg()
        self.unavailable = set(unavailable)
        self.tag = tag
        self.calls: list[tuple[str, Any]] = []

    def _top(self, order: Sequence[int], n: int, blocked: set[str], reason: str, src: str) -> list[Scored]:
        out = []
        for rank, k in enumerate(order):
            item = f"i{k}"
            if item in blocked or item in self.unavailable:
                continue
            out.append(Scored(item, 1.0 / (1 + rank), reason + self.tag, (src,)))
            if len(out) == n:
                break
        return out

    def recommend(
        self,
        history: Sequence[str],
        n: int = 10,
        *,
        exclude: Collection[str] = (),
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
        exclude_history: bool = True,
    ) -> list[Scored]:
        self.calls.append(("recommend", {"history": list(history), "n": n, "affinity": category_affinity}))
        known = [h for h in history if h in set(self.item_ids)]
        blocked = (set(known) if exclude_history else set()) | set(exclude)
        if len(known) < self.config.cold_start_threshold:
            return self._top(range(len(self.item_ids)), n, blocked, "popular now", "popularity")
        start = int(known[0][1:]) + 1
        order = [(start + k) % len(self.item_ids) for k in range(len(self.item_ids))]
        return self._top(order, min(n, self.max_candidates), blocked, f"because you liked {known[0]}", "ease")

    def similar_items(self, item_id: str, n: int = 10, *, exclude: Collection[str] = ()) -> list[Scored]:
        self.calls.append(("similar", item_id))
        if item_id not in set(self.item_ids):
            raise KeyError(item_id)
        k = int(item_id[1:])
        same = [j for j in range(len(self.item_ids)) if j % 3 == k % 3 and j != k]
        return self._top(same, n, set(exclude) | {item_id}, f"similar to {item_id}", "content")

    def popular(
        self, n: int = 10, *, exclude: Collection[str] = (), now: float | None = None
    ) -> list[Scored]:
        self.calls.append(("popular", n))
        by_category = sorted(range(len(self.item_ids)), key=lambda k: (k % 3, k))  # i0, i3, ..., i1, i4, ...
        return self._top(by_category, n, set(exclude), "popular now", "popularity")

    def item_metadata(self, item_id: str) -> Mapping[str, Any]:
        k = int(item_id[1:])
        return {
            "categories": [f"c{k % 3}"],
            "created_at": NOW - 3600 * k,
            "available": item_id not in self.unavailable,
        }


@dataclass
class MemoryUserStore:
    """The UserFeatureStore port in memory; ``fail`` makes reads raise like a down Redis."""

    rows: dict[tuple[str, str], UserState] = field(default_factory=dict)
    fail: bool = False
    reads: int = 0

    def read(self, tenant_id: str, user_id: str) -> UserState | None:
        self.reads += 1
        if self.fail:
            raise DependencyUnavailable("redis: connection refused")
        return self.rows.get((tenant_id, user_id))

    def read_many(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, UserState]:
        return {u: s for u in user_ids if (s := self.rows.get((tenant_id, u))) is not None}

    def write(self, tenant_id: str, states: Sequence[UserState]) -> None:
        for s in states:
            self.rows[(tenant_id, s.user_id)] = s

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass
