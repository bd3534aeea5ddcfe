"""Re-ranking after the model: filters, freshness, diversity. Small pure functions.

The model returns scored candidates; the server turns them into the final list:

1. :func:`normalize_scores` - relevance in [0, 1] within the candidate pool, so the
   boosts below mean the same for every model;
2. :func:`drop_items` - seen, excluded and unavailable items never come back;
3. :func:`filter_categories` - the request's include/exclude category filters;
4. :func:`freshness_boost` - new items gain up to ``weight``, halving every ``half_life``;
5. :func:`mmr` - maximal marginal relevance over category (or embedding) similarity;
6. :func:`cap_per_category` - at most N items of one category before the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recsys_model_servers.settings import RerankSettings

Similarity = Callable[["Candidate", "Candidate"], float]


@dataclass(frozen=True)
class ItemInfo:
    """What the re-ranker knows about an item (from the model artifact's catalog)."""

    categories: frozenset[str] = frozenset()
    created_at: float | None = None
    """Unix seconds; None when unknown."""
    available: bool = True


@dataclass(frozen=True)
class Candidate:
    """A scored item on its way through re-ranking."""

    item_id: str
    score: float
    reason: str = ""
    sources: tuple[str, ...] = ()
    info: ItemInfo = ItemInfo()


def drop_items(
    candidates: Sequence[Candidate], excluded: Collection[str], *, unavailable: bool = True
) -> list[Candidate]:
    """Candidates not in ``excluded`` (and, if ``unavailable``, not marked unavailable)."""
    return [c for c in candidates if c.item_id not in excluded and (not unavailable or c.info.available)]


def filter_categories(
    candidates: Sequence[Candidate], include: Collection[str] | None, exclude: Collection[str]
) -> list[Candidate]:
    """Candidates in at least one ``include`` category (None = any) and in no ``exclude`` category."""
    inc = frozenset(include) if include is not None else None
    exc = frozenset(exclude)
    return [
        c
        for c in candidates
        if (inc is None or c.info.categories & inc) and not (exc and c.info.categories & exc)
    ]


def normalize_scores(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Min-max scale the scores to [0, 1] (all equal, or one candidate: 1.0). Order is kept."""
    if not candidates:
        return []
    scores = [c.score for c in candidates]
    finite = [s for s in scores if math.isfinite(s)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    span = hi - lo

    def scaled(s: float) -> float:
        if not math.isfinite(s):
            return 0.0
        return 1.0 if span <= 0 else (s - lo) / span

    return [_rescored(c, scaled(c.score)) for c in candidates]


def freshness_boost(
    candidates: Sequence[Candidate], now: float, weight: float, half_life_seconds: float
) -> list[Candidate]:
    """Add ``weight * 0.5 ** (age / half_life)`` to each score; unknown ages get no boost.

    Items "from the future" (clock skew) count as age 0. The result is sorted by the
    new score (stable, so ties keep the model's order).
    """
    if weight <= 0:
        return list(candidates)
    boosted = []
    for c in candidates:
        created = c.info.created_at
        if created is None or not math.isfinite(created):
            boosted.append(c)
            continue
        age = max(0.0, now - created)
        boosted.append(_rescored(c, c.score + weight * math.pow(0.5, age / half_life_seconds)))
    return sorted(boosted, key=lambda c: -c.score)


def _rescored(c: Candidate, score: float) -> Candidate:
    # the constructor, not dataclasses.replace: this runs for every candidate of every request
    return Candidate(c.item_id, score, c.reason, c.sources, c.info)


def _jaccard(ca: frozenset[str], cb: frozenset[str]) -> float:
    if not ca or not cb:
        return 0.0
    return len(ca & cb) / len(ca | cb)


def category_jaccard(a: Candidate, b: Candidate) -> float:
    """Jaccard similarity of two items' category sets (0 when either has none)."""
    return _jaccard(a.info.categories, b.info.categories)


def embedding_similarity(embeddings: Mapping[str, npt.NDArray[np.floating]]) -> Similarity:
    """Cosine similarity of item embeddings (0 when either item has none)."""
    norms = {k: float(np.linalg.norm(v)) for k, v in embeddings.items()}

    def similarity(a: Candidate, b: Candidate) -> float:
        va, vb = embeddings.get(a.item_id), embeddings.get(b.item_id)
        if va is None or vb is None or not norms[a.item_id] or not norms[b.item_id]:
            return 0.0
        return float(np.dot(va, vb)) / (norms[a.item_id] * norms[b.item_id])

    return similarity


def mmr(
    candidates: Sequence[Candidate], n: int, lam: float, similarity: Similarity = category_jaccard
) -> list[Candidate]:
    """Greedy maximal marginal relevance: pick ``argmax lam * score - (1 - lam) * max_sim(selected)``.

    ``lam = 1`` is the relevance order. Scores should be normalised first
    (:func:`normalize_scores`) so relevance and similarity share a scale.
    """
    pool = sorted(candidates, key=lambda c: -c.score)
    if lam >= 1.0 or len(pool) <= 1:
        return pool[:n]
    if similarity is category_jaccard:
        return _mmr_by_category(pool, n, lam)
    selected: list[Candidate] = []
    max_sim = [0.0] * len(pool)
    remaining = list(range(len(pool)))
    while remaining and len(selected) < n:
        best = max(remaining, key=lambda i: lam * pool[i].score - (1 - lam) * max_sim[i])
        remaining.remove(best)
        chosen = pool[best]
        selected.append(chosen)
        for i in remaining:
            s = similarity(pool[i], chosen)
            if s > max_sim[i]:
                max_sim[i] = s
    return selected


def _mmr_by_category(pool: Sequence[Candidate], n: int, lam: float) -> list[Candidate]:
    """:func:`mmr` with category Jaccard, vectorised: items sharing a category set share a
    similarity column, computed once per selected set (usually a handful of distinct sets)."""
    groups = list(dict.fromkeys(c.info.categories for c in pool))
    group_of = {g: i for i, g in enumerate(groups)}
    member = np.fromiter((group_of[c.info.categories] for c in pool), dtype=np.int64, count=len(pool))
    relevance = np.fromiter((c.score for c in pool), dtype=np.float64, count=len(pool))
    max_sim = np.zeros(len(pool))
    taken = np.zeros(len(pool), dtype=bool)
    columns: dict[int, npt.NDArray[np.float64]] = {}
    selected: list[Candidate] = []
    for _ in range(min(n, len(pool))):
        value = lam * relevance - (1 - lam) * max_sim
        value[taken] = -np.inf
        best = int(np.argmax(value))  # first maximum: ties keep the score order, like mmr()
        taken[best] = True
        selected.append(pool[best])
        g = int(member[best])
        if g not in columns:
            columns[g] = np.array([_jaccard(other, groups[g]) for other in groups], dtype=np.float64)
        np.maximum(max_sim, columns[g][member], out=max_sim)
    return selected


def cap_per_category(candidates: Sequence[Candidate], max_per_category: int) -> list[Candidate]:
    """Keep the order, but move an item behind the others once any of its categories has
    ``max_per_category`` items ahead of it. Deferred items fill the tail (in order), so the
    list only breaks the cap when nothing else is left."""
    counts: Counter[str] = Counter()
    kept: list[Candidate] = []
    deferred: list[Candidate] = []
    for c in candidates:
        if any(counts[cat] >= max_per_category for cat in c.info.categories):
            deferred.append(c)
            continue
        counts.update(c.info.categories)
        kept.append(c)
    return kept + deferred


def rerank(
    candidates: Sequence[Candidate],
    n: int,
    settings: RerankSettings,
    *,
    now: float,
    excluded: Collection[str] = (),
    include_categories: Collection[str] | None = None,
    exclude_categories: Collection[str] = (),
    similarity: Similarity = category_jaccard,
) -> list[Candidate]:
    """The whole re-ranking stage: at most ``n`` candidates, best first."""
    # Normalise over the whole pool first: an item's relevance does not depend on which of its
    # neighbours the filters removed (the last item of a filtered list is not scored 0).
    kept = normalize_scores(candidates)
    kept = drop_items(kept, excluded, unavailable=settings.exclude_unavailable)
    kept = filter_categories(kept, include_categories, exclude_categories)
    kept = freshness_boost(kept, now, settings.freshness_weight, settings.freshness_half_life_hours * 3600)
    if settings.diversity == "mmr":
        # MMR costs n x pool similarity calls: diversify the head only, the tail stays in
        # score order (the category cap below may still pull items from it).
        head = mmr(kept, n, settings.mmr_lambda, similarity)
        chosen = {c.item_id for c in head}
        kept = head + [c for c in kept if c.item_id not in chosen]
    if settings.max_per_category is not None:
        kept = cap_per_category(kept, settings.max_per_category)
    return kept[:n]
