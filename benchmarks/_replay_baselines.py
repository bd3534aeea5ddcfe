"""Streaming session baselines for the news replay, fed the same clicks in the same order
as the platform: recent-popular over a trailing event-time window, next-item
co-occurrence from the session's last article, and session-kNN (V-SkNN).

Each baseline answers ``recommend(prefix, n)`` from the clicks it has been fed so far
(``observe``), never lists an article of the prefix, and fills a short list with
recent-popular.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from collections.abc import Sequence


class RecentPopular:
    """Most-clicked articles in the trailing ``window_s`` seconds of event time."""

    def __init__(self, window_s: float = 15 * 60) -> None:
        self.window_s = window_s
        self._clicks: deque[tuple[float, str]] = deque()
        self._counts: Counter[str] = Counter()

    def observe(self, session: str, item: str, ts: float) -> None:
        self._clicks.append((ts, item))
        self._counts[item] += 1
        self.advance(ts)

    def advance(self, now: float) -> None:
        """Forget clicks older than the window before ``now`` (event time)."""
        while self._clicks and self._clicks[0][0] < now - self.window_s:
            _, old = self._clicks.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]

    def recommend(self, prefix: Sequence[str], n: int) -> list[str]:
        skip = set(prefix)
        top = heapq.nlargest(n + len(skip), self._counts.items(), key=lambda kv: (kv[1], kv[0]))
        return [item for item, _ in top if item not in skip][:n]


def _fill(ranked: list[str], popular: RecentPopular, prefix: Sequence[str], n: int) -> list[str]:
    if len(ranked) >= n:
        return ranked[:n]
    taken = set(ranked)
    extra = [i for i in popular.recommend(list(prefix) + ranked, n) if i not in taken]
    return (ranked + extra)[:n]


class NextItem:
    """Counts of ``a -> b`` between consecutive clicks of a session; the list follows the
    session's last article."""

    def __init__(self, popular: RecentPopular) -> None:
        self.popular = popular
        self._next: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._last: dict[str, str] = {}

    def observe(self, session: str, item: str, ts: float) -> None:
        last = self._last.get(session)
        if last is not None:
            self._next[last][item] += 1
        self._last[session] = item

    def recommend(self, prefix: Sequence[str], n: int) -> list[str]:
        skip = set(prefix)
        follow = self._next.get(prefix[-1]) if prefix else None
        ranked = []
        if follow:
            ordered = sorted(follow.items(), key=lambda kv: (-kv[1], kv[0]))
            ranked = [i for i, _ in ordered if i not in skip][:n]
        return _fill(ranked, self.popular, prefix, n)


class SessionKNN:
    """V-SkNN (Ludewig & Jannach 2018): the current session as a vector with linear position
    decay (the last click weighs 1, the first 1/len), compared by dot product with the
    binary vectors of the ``sample`` most recent past sessions sharing an item with it;
    the ``k`` most similar vote for their items with their similarity."""

    def __init__(self, popular: RecentPopular, k: int = 100, sample: int = 500) -> None:
        self.popular = popular
        self.k = k
        self.sample = sample
        self._items: defaultdict[str, list[str]] = defaultdict(list)  # session -> clicked items
        self._sessions: defaultdict[str, list[str]] = defaultdict(list)  # item -> sessions, in order
        self._updated: dict[str, float] = {}  # session -> time of its latest click

    def observe(self, session: str, item: str, ts: float) -> None:
        if item not in self._items[session]:
            self._items[session].append(item)
            self._sessions[item].append(session)
        self._updated[session] = max(ts, self._updated.get(session, ts))

    def recommend(self, prefix: Sequence[str], n: int, session: str | None = None) -> list[str]:
        if not prefix:
            return self.popular.recommend(prefix, n)
        size = len(prefix)
        weights = {item: (pos + 1) / size for pos, item in enumerate(prefix)}
        candidates: set[str] = set()
        for item in prefix:
            candidates.update(self._sessions.get(item, ())[-self.sample :])
        candidates.discard(session or "")
        recent = heapq.nlargest(self.sample, candidates, key=lambda s: (self._updated[s], s))
        sims = []
        for other in recent:
            sim = sum(weights.get(i, 0.0) for i in self._items[other])
            if sim > 0:
                sims.append((sim, other))
        scores: defaultdict[str, float] = defaultdict(float)
        for sim, other in heapq.nlargest(self.k, sims):
            for i in self._items[other]:
                scores[i] += sim
        skip = set(prefix)
        ranked = [i for i, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])) if i not in skip][:n]
        return _fill(ranked, self.popular, prefix, n)
