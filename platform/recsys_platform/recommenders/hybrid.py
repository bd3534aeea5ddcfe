"""The hybrid recommender: several candidate generators, one blend or learned ranker.

Warm users (at least ``cold_start_threshold`` known history items) get candidates from
EASE, ALS (FAISS retrieval over the item factors, user vector folded in from the history at
request time), item-kNN, content TF-IDF and popularity, re-ordered by the LightGBM ranker
(or the weighted blend when no ranker was trained). Cold users get content + popularity.
Nothing about a user is stored in the model: the history passed to ``recommend`` is the
whole user state, so a new click changes the next list.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys_platform.recommenders import scoring
from recsys_platform.recommenders.catalog_frame import normalise_catalog
from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.data import IdIndex, Interactions
from recsys_platform.recommenders.exceptions import InsufficientDataError, UnknownItemError
from recsys_platform.recommenders.generators import KINDS, REGISTRY
from recsys_platform.recommenders.model_state import ModelState, fit_state
from recsys_platform.recommenders.stream_blend import StreamRanker

SCHEMA_VERSION = 3
__all__ = ["HybridConfig", "HybridRecommender", "InsufficientDataError", "ScoredItem", "UnknownItemError"]

CF_SOURCES = tuple(kind for kind in KINDS if REGISTRY[kind].collaborative)
"""Generators whose candidates are explained "because you liked X"."""
COLD_RECIPES = (("content", "popularity"), ("item_knn", "popularity"))
"""Cold-start generators: the first recipe whose generators the model has (popularity always)."""


@dataclass(frozen=True)
class ScoredItem:
    """One recommended item: its id, score, a short human reason and the generators behind it."""

    item_id: str
    score: float
    reason: str
    sources: tuple[str, ...]


class HybridRecommender:
    """A fitted hybrid model; build it with :meth:`fit` or ``artifact.load_model``."""

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    def __init__(self, config: HybridConfig, state: ModelState) -> None:
        self.config = config
        self.state = state
        self._index = IdIndex(state.item_ids)
        self._available = state.catalog["available"].to_numpy(dtype=bool)
        self._titles = state.catalog["title"].to_numpy(dtype=object)
        self._ranker: Any = None
        self.stream_ranker: StreamRanker | None = None
        """The streaming blend's learned correction (None: the weighted blend alone)."""
        if state.stream_ranker_model:
            self.stream_ranker = StreamRanker(state.stream_ranker_model)
        if state.ranker_model:
            from recsys_platform.recommenders.ranker import load_booster

            self._ranker = load_booster(state.ranker_model)

    @property
    def item_ids(self) -> npt.NDArray[np.str_]:
        """External item ids in index order."""
        return self.state.item_ids

    @property
    def generators(self) -> list[str]:
        """The generators this model has (EASE/content may have been skipped; see ``state.skipped``)."""
        wanted = self.config.kinds
        return [g for g in KINDS if g in self.state.generators and (g in wanted or g == "popularity")]

    @classmethod
    def fit(
        cls,
        interactions: Interactions,
        catalog: pd.DataFrame | None = None,
        config: HybridConfig | None = None,
        now: float | None = None,
    ) -> HybridRecommender:
        """Trains every generator (and the ranker, when enabled) on ``interactions``.

        Args:
            interactions: The event log; ids are used as strings; timestamps in unix seconds.
            catalog: Item metadata (``catalog_frame``); items without events are still
                recommendable by content; missing columns get defaults.
            config: Hyper-parameters (defaults when omitted).
            now: Reference time of popularity decay and item age (default: the last event).

        Raises:
            InsufficientDataError: Too few events, users or items (the message says which).
            ValueError: A malformed catalog (the message names the column).
        """
        config = config or HybridConfig()
        frame = normalise_catalog(catalog) if catalog is not None else None
        if config.ranker.enabled:
            from recsys_platform.recommenders.ranker import fit_with_ranker

            return fit_with_ranker(cls, interactions, frame, config, now)
        return cls(config, fit_state(interactions, frame, config, now))

    # -- helpers -----------------------------------------------------------------------------
    def history_indices(self, history: Sequence[str]) -> npt.NDArray[np.int64]:
        """Known item indices of a most-recent-first history (duplicates and unknown ids dropped),
        the most recent ``max_history`` of them (what the generators score from)."""
        return self.known_indices(history)[: self.config.max_history]

    def known_indices(self, history: Sequence[str]) -> npt.NDArray[np.int64]:
        """All known item indices of a history, most recent first, each once."""
        if not len(history):
            return np.empty(0, dtype=np.int64)
        found = self._index.lookup(np.asarray([str(h) for h in history]))
        found = found[found >= 0]
        _, first = np.unique(found, return_index=True)
        return found[np.sort(first)].astype(np.int64)

    def blocked_mask(self, history: npt.NDArray[np.int64], exclude: Collection[str]) -> npt.NDArray[np.bool_]:
        """Items that must not be returned: unavailable, in the history or excluded."""
        blocked: npt.NDArray[np.bool_] = ~self._available
        blocked[history] = True
        if exclude:
            ids = self._index.lookup(np.asarray([str(e) for e in exclude]))
            blocked[ids[ids >= 0]] = True
        return blocked

    def _label(self, index: int) -> str:
        title = str(self._titles[index] or "").strip()
        return title if title else str(self.state.item_ids[index])

    def is_cold(self, history: Sequence[str]) -> bool:
        """Whether this history gets the cold-start recipe (too few known items)."""
        return int(self.history_indices(history).shape[0]) < self.config.cold_start_threshold

    # -- public API --------------------------------------------------------------------------
    def recommend(
        self,
        history: Sequence[str],
        n: int = 10,
        *,
        exclude: Collection[str] = (),
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
        exclude_history: bool = True,
    ) -> list[ScoredItem]:
        """Top-``n`` items for a user with this history (most recent first).

        Unknown history ids are ignored; the generators score from the most recent
        ``max_history`` known items. Every history item (not only those), ``exclude`` and
        unavailable items are never returned, unless ``exclude_history`` is false (tenants
        whose users repeat: re-reads, re-purchases). Fewer than ``cold_start_threshold``
        known items = cold start. ``now`` is accepted for symmetry; the model's scores do not
        depend on the wall clock (see :meth:`rank_candidates`).
        """
        known = self.known_indices(history)
        hist = known[: self.config.max_history]
        blocked = self.blocked_mask(known if exclude_history else np.empty(0, dtype=np.int64), exclude)
        cold = hist.shape[0] < self.config.cold_start_threshold
        cand, score = self.rank_candidates(hist, blocked, cold, category_affinity, now)
        if cand.items.shape[0] == 0:
            return []
        order = np.lexsort((cand.items, -score))[:n]
        return self._scored(cand, order, score, hist)

    def rank_candidates(
        self,
        hist: npt.NDArray[np.int64],
        blocked: npt.NDArray[np.bool_],
        cold: bool,
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
        include: npt.NDArray[np.int64] | None = None,
    ) -> tuple[scoring.Candidates, npt.NDArray[np.float64]]:
        """Candidates of the cold or the warm recipe and their final scores (unsorted);
        ``include`` items join the pool whatever their scores (re-ranking given items)."""
        if cold:
            gens = list(
                next((r for r in COLD_RECIPES if all(g in self.state.generators for g in r)), ("popularity",))
            )
        else:
            gens = self.generators
        gens = [g for g in gens if g in self.state.generators]
        cand = scoring.candidates(self.state, self.config, hist, blocked, gens, category_affinity, include)
        if not cold and self._ranker is not None and cand.items.shape[0]:
            # One "now" for training and serving: the model's data end (``fitted_at``). The
            # ranker learned its time features (item age, time since an item's last event) as
            # of the end of its training data; measuring them against the wall clock would
            # shift every item's value as the model ages and make the list depend on when
            # it is asked. Live recency comes from the streaming generators (event time).
            feats = scoring.features(self.state, cand, int(hist.shape[0]), self.state.fitted_at)
            learned = np.asarray(self._ranker.predict(feats, num_threads=1), dtype=np.float64)
            return cand, learned + self.config.ranker.blend_init_scale * scoring.blend(self.config, cand)
        weights = {**self.config.blend_weights, **self.config.cold_blend_weights} if cold else None
        weights = weights or self.config.blend_weights
        return cand, scoring.blend_scores(
            weights, self.config.category_affinity_weight, cand.scores, cand.affinity
        )

    def _scored(
        self,
        cand: scoring.Candidates,
        order: npt.NDArray[np.int64],
        score: npt.NDArray[np.float64],
        hist: npt.NDArray[np.int64],
    ) -> list[ScoredItem]:
        items = cand.items[order]
        anchors = self._anchors(hist, items)
        out = []
        for pos, (row, item) in enumerate(zip(order, items, strict=True)):
            sources = tuple(g for g in cand.sources if cand.sources[g][row])
            if anchors is not None and anchors[pos] >= 0 and any(s in CF_SOURCES for s in sources):
                reason = f"because you liked {self._label(int(anchors[pos]))}"
            elif "content" in sources:
                reason = "similar to what you read"
            elif anchors is not None and anchors[pos] >= 0:
                reason = f"because you liked {self._label(int(anchors[pos]))}"
            else:
                reason = "popular now"
            out.append(ScoredItem(str(self.state.item_ids[item]), float(score[row]), reason, sources))
        return out

    def _anchors(
        self, hist: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64] | None:
        """For each item, the history item that contributed most (-1 when none did)."""
        if hist.shape[0] == 0 or items.shape[0] == 0:
            return None
        contrib = None
        for kind in KINDS:  # the first generator that can explain
            generator = self.state.generators.get(kind)
            contrib = generator.explain(hist, items) if generator is not None else None
            if contrib is not None:
                break
        if contrib is None:
            return None
        best = contrib.argmax(axis=0)
        value = contrib[best, np.arange(items.shape[0])]
        return np.where(value > 0, hist[best], -1).astype(np.int64)

    def similar_items(self, item_id: str, n: int = 10, *, exclude: Collection[str] = ()) -> list[ScoredItem]:
        """Items most like ``item_id`` (co-interactions, ALS factors and content), best first.

        Raises:
            UnknownItemError: ``item_id`` is not in the model.
        """
        found = int(self._index.lookup(np.asarray([str(item_id)]))[0])
        if found < 0:
            raise UnknownItemError(str(item_id))
        s = self.state
        blocked = self.blocked_mask(np.asarray([found], dtype=np.int64), exclude)
        parts: dict[str, npt.NDArray[np.float64]] = {}
        for kind in KINDS:
            generator = s.generators.get(kind)
            if generator is None or not generator.similar_weight:
                continue
            if generator.collaborative and s.counts[found] <= 0:
                continue  # no co-interactions: the item's row says nothing
            similar = generator.similar(found)
            if similar is not None:
                parts[kind] = similar
        # one part alone is the list; several are blended with each generator's weight
        weights = {g: 1.0 if len(parts) == 1 else REGISTRY[g].similar_weight for g in parts}
        total = np.zeros(s.n_items)
        for g, v in parts.items():
            top = float(v[~blocked].max()) if (~blocked).any() else 0.0
            if top > 0:
                total += weights[g] * v / top
        total = total + 1e-6 * s.popularity / max(float(s.popularity.max()), 1e-12)
        total[blocked] = -np.inf
        top_items = scoring._top(total, blocked, n)
        label = self._label(found)
        return [
            ScoredItem(
                str(s.item_ids[i]),
                float(total[i]),
                f"similar to {label}",
                tuple(g for g, v in parts.items() if v[i] > 0) or ("popularity",),
            )
            for i in top_items
        ]

    def popular(
        self, n: int = 10, *, exclude: Collection[str] = (), now: float | None = None
    ) -> list[ScoredItem]:
        """The time-decayed most popular available items (decay is relative, so ``now``
        does not change the order; it is accepted for symmetry with ``recommend``)."""
        blocked = self.blocked_mask(np.empty(0, dtype=np.int64), exclude)
        scores = self.state.popularity.astype(np.float64)
        return [
            ScoredItem(str(self.state.item_ids[i]), float(scores[i]), "popular now", ("popularity",))
            for i in scoring._top(scores, blocked, n)
        ]

    def item_metadata(self, item_id: str) -> Mapping[str, Any]:
        """Catalog attributes of an item plus its interaction count.

        Raises:
            UnknownItemError: ``item_id`` is not in the model.
        """
        found = int(self._index.lookup(np.asarray([str(item_id)]))[0])
        if found < 0:
            raise UnknownItemError(str(item_id))
        row = self.state.catalog.iloc[found]
        created = float(row["created_at"])
        return {
            "item_id": str(item_id),
            "title": str(row["title"]),
            "text": str(row["text"])[:200],
            "categories": list(row["categories"]),
            "created_at": None if math.isnan(created) else created,
            "available": bool(row["available"]),
            "interactions": int(self.state.counts[found]),
        }

    def recommend_batch(
        self,
        histories: Sequence[Sequence[str]],
        n: int,
        *,
        excludes: Sequence[Collection[str]] | None = None,
        now: float | None = None,
    ) -> list[list[ScoredItem]]:
        """``recommend`` for many histories (used by evaluation)."""
        return [
            self.recommend(h, n, exclude=excludes[i] if excludes is not None else (), now=now)
            for i, h in enumerate(histories)
        ]

    def score_items(
        self,
        history: Sequence[str],
        item_ids: Sequence[str],
        *,
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> list[ScoredItem]:
        """Exactly ``item_ids`` scored for a user with this history (most recent first), best first.

        The recipe of :meth:`recommend` (warm: generators and ranker, or the blend; cold: the
        cold blend) over ``recommend``'s candidate pool plus the given items, so given items
        that are all in that pool keep their relative order in ``recommend``'s output. Nothing
        given is blocked: history and unavailable items are scored too (the caller chose them).
        Ids the model does not know come last, in the given order, with score ``-inf``, no
        sources and the reason ``"not known to the model"``.

        Raises:
            ValueError: ``item_ids`` holds an id twice (the message names both positions).
        """
        ids = [str(i) for i in item_ids]
        first: dict[str, int] = {}
        for pos, item in enumerate(ids):
            if item in first:
                raise ValueError(f"item_ids[{pos}]: duplicate of item_ids[{first[item]}] ({item!r})")
            first[item] = pos
        found = self._index.lookup(np.asarray(ids, dtype=str)) if ids else np.empty(0, dtype=np.int64)
        unknown = [
            ScoredItem(item, -math.inf, "not known to the model", ())
            for item, index in zip(ids, found, strict=True)
            if index < 0
        ]
        known = found[found >= 0].astype(np.int64)
        if not known.shape[0]:
            return unknown
        seen = self.known_indices(history)
        hist = seen[: self.config.max_history]
        cold = hist.shape[0] < self.config.cold_start_threshold
        # recommend's pool (same blocked items) plus the given items, scored by its recipe
        cand, score = self.rank_candidates(
            hist, self.blocked_mask(seen, ()), cold, category_affinity, include=known
        )
        rows = np.searchsorted(cand.items, known)  # the pool is sorted and holds every known item
        order = rows[np.lexsort((cand.items[rows], -score[rows]))]  # recommend's tie-break
        return self._scored(cand, order.astype(np.int64), score, hist) + unknown
