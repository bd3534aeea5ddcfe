"""The fitted arrays of the hybrid recommender and the code that fits them.

Everything the model needs at serving time is a numpy array, a scipy sparse matrix, a
FAISS index, a pandas frame or a string, so the artifact can store it without pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.als import ALSRecommender
from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.content import ContentRecommender
from recsys_platform.recommenders.data import IdIndex, Interactions
from recsys_platform.recommenders.ease import EASERecommender
from recsys_platform.recommenders.exceptions import InsufficientDataError
from recsys_platform.recommenders.item_knn import ItemKNNRecommender
from recsys_platform.recommenders.retrieval import InnerProductIndex

F32 = npt.NDArray[np.float32]


@dataclass
class ModelState:
    """Fitted arrays; item arrays are in the order of ``item_ids`` (sorted)."""

    item_ids: npt.NDArray[np.str_]
    catalog: pd.DataFrame
    category_names: list[str]
    item_categories: csr_matrix
    counts: F32
    popularity: F32
    last_event: F32
    first_event: F32
    fitted_at: float
    n_users: int
    n_events: int
    ease: F32 | None = None
    knn: csr_matrix | None = None
    als_items: F32 | None = None
    als_index: InnerProductIndex | None = None
    tfidf: csr_matrix | None = None
    vocabulary: dict[str, int] | None = None
    time_hist: F32 | None = None
    """Each item's interaction-time distribution over ``time_bins`` bins (rows sum to 1 or 0)."""
    time_global: F32 | None = None
    """The distribution of all training events over the same bins (smoothed, > 0)."""
    ranker_model: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    _als_gram: npt.NDArray[np.float64] | None = None

    @property
    def n_items(self) -> int:
        """Number of items in the model's index."""
        return int(self.item_ids.shape[0])

    @property
    def generators(self) -> list[str]:
        """Generators that were fitted (popularity is always there)."""
        present = {
            "ease": self.ease is not None,
            "als": self.als_items is not None,
            "item_knn": self.knn is not None,
            "content": self.tfidf is not None,
            "popularity": True,
        }
        return [g for g, ok in present.items() if ok]

    def als_gram(self, regularization: float) -> npt.NDArray[np.float64]:
        """``Y'Y + reg * I`` of the ALS item factors (cached; used by the fold-in)."""
        if self._als_gram is None:
            assert self.als_items is not None
            y = self.als_items.astype(np.float64)
            self._als_gram = y.T @ y + regularization * np.eye(y.shape[1])
        return self._als_gram


def _as_str(ids: npt.ArrayLike) -> npt.NDArray[np.str_]:
    return np.asarray(ids).astype(str)


def check_enough_data(interactions: Interactions, config: HybridConfig) -> None:
    """Raises InsufficientDataError naming what is missing."""
    n_events = len(interactions)
    n_users = len(np.unique(interactions.user_ids)) if n_events else 0
    n_items = len(np.unique(interactions.item_ids)) if n_events else 0
    if n_events < config.min_events:
        raise InsufficientDataError(
            f"too little data to train: {n_events} interactions, at least {config.min_events} needed"
        )
    if n_users < config.min_users:
        raise InsufficientDataError(
            f"too little data to train: {n_users} users, at least {config.min_users} needed"
        )
    if n_items < config.min_items:
        raise InsufficientDataError(
            f"too little data to train: {n_items} items, at least {config.min_items} needed"
        )


def _category_matrix(catalog: pd.DataFrame) -> tuple[list[str], csr_matrix]:
    names = sorted({c for cats in catalog["categories"] for c in cats})
    position = {c: i for i, c in enumerate(names)}
    rows, cols = [], []
    for row, cats in enumerate(catalog["categories"]):
        for c in cats:
            rows.append(row)
            cols.append(position[c])
    matrix = csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(catalog), max(len(names), 1))
    )
    return names, matrix


def fit_state(
    interactions: Interactions, catalog: pd.DataFrame | None, config: HybridConfig, now: float | None
) -> ModelState:
    """Fits every enabled generator on the interactions (catalog = normalised frame or None)."""
    check_enough_data(interactions, config)
    user_ids = _as_str(interactions.user_ids)
    item_ids = _as_str(interactions.item_ids)
    catalog_ids = catalog["item_id"].to_numpy(dtype=str) if catalog is not None else np.empty(0, dtype=str)
    items = IdIndex.from_ids(np.concatenate([item_ids, catalog_ids]))
    users = IdIndex.from_ids(user_ids)
    times = (
        interactions.timestamps.astype(np.float64)
        if interactions.timestamps is not None
        else np.zeros(len(interactions), dtype=np.float64)
    )
    log = Interactions(user_ids, item_ids, np.ones(len(interactions)), None)
    matrix, _, _ = log.to_matrix(users, items, binary=True)
    n_items = len(items)
    cols = items.lookup(item_ids)
    fitted_at = float(now if now is not None else (times.max() if len(times) else 0.0))

    counts = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
    if config.popularity_half_life_days is not None:
        # decay from the latest event, not from ``now``: the order is the same (the decay
        # scales every item alike) and a model fitted long after its data keeps non-zero scores
        latest = float(times.max()) if len(times) else 0.0
        age = np.maximum(latest - times, 0.0)
        weights = np.power(0.5, age / (config.popularity_half_life_days * 86400.0))
        popularity = np.bincount(cols, weights=weights, minlength=n_items).astype(np.float32)
    else:
        popularity = counts.copy()
    last_event = np.full(n_items, np.nan, dtype=np.float32)
    first_event = np.full(n_items, np.nan, dtype=np.float32)
    frame = pd.DataFrame({"c": cols, "t": times})
    agg = frame.groupby("c")["t"].agg(["min", "max"])
    last_event[agg.index.to_numpy()] = agg["max"].to_numpy()
    first_event[agg.index.to_numpy()] = agg["min"].to_numpy()

    time_hist, time_global = time_histograms(cols, times, n_items, config.time_bins)
    aligned = _aligned_catalog(items.ids.astype(str), catalog)
    names, item_categories = _category_matrix(aligned)
    state = ModelState(
        item_ids=items.ids.astype(str),
        catalog=aligned,
        category_names=names,
        item_categories=item_categories,
        counts=counts,
        popularity=popularity,
        last_event=last_event,
        first_event=first_event,
        fitted_at=fitted_at,
        n_users=len(users),
        n_events=len(interactions),
        time_hist=time_hist,
        time_global=time_global,
    )
    wanted = set(config.generators)
    if "ease" in wanted:
        if n_items <= config.ease_max_items:
            weighted = value_weighted(matrix, users, items, interactions, config.ease_value_weight)
            ease = EASERecommender(l2=config.ease_lambda, binary=False).fit(weighted)
            assert ease.weights_ is not None
            state.ease = ease.weights_.astype(np.float32)
        else:
            state.skipped["ease"] = f"{n_items} items > ease_max_items {config.ease_max_items}"
    if "item_knn" in wanted:
        knn = ItemKNNRecommender(neighbours=config.knn_neighbours, num_threads=config.num_threads).fit(matrix)
        assert knn.similarity_ is not None
        state.knn = csr_matrix(knn.similarity_, dtype=np.float32)
    if "als" in wanted:
        als = ALSRecommender(
            factors=config.als_factors,
            regularization=config.als_regularization,
            alpha=config.als_alpha,
            iterations=config.als_iterations,
            seed=config.seed,
            num_threads=config.num_threads,
        ).fit(matrix)
        assert als.item_factors_ is not None
        state.als_items = np.ascontiguousarray(als.item_factors_, dtype=np.float32)
        state.als_index = InnerProductIndex.build(state.als_items)
    if "content" in wanted:
        _fit_content(state, config)
    return state


def time_histograms(
    cols: npt.NDArray[np.int64], times: npt.NDArray[np.float64], n_items: int, bins: int
) -> tuple[F32 | None, F32 | None]:
    """Per-item interaction-time distributions over ``bins`` equal bins of the training span,
    and the global one (add-one smoothed); ``(None, None)`` when disabled or no time span."""
    if bins <= 0 or times.shape[0] == 0 or float(np.ptp(times)) <= 0:
        return None, None
    low, span = float(times.min()), float(np.ptp(times))
    which = np.minimum(((times - low) / span * bins).astype(np.int64), bins - 1)
    hist = np.zeros((n_items, bins), dtype=np.float64)
    np.add.at(hist, (cols, which), 1.0)
    totals = hist.sum(axis=1, keepdims=True)
    glob = (hist.sum(axis=0) + 1.0) / (hist.sum() + bins)
    rows = hist / np.maximum(totals, 1.0)
    return rows.astype(np.float32), glob.astype(np.float32)


def value_weighted(
    matrix: csr_matrix, users: IdIndex, items: IdIndex, interactions: Interactions, weight: float
) -> csr_matrix:
    """The binary user x item matrix with each pair weighted by ``1 + weight * z`` (z = the
    pair's mean interaction value, standardised over all pairs, clipped to +-3; at least 0.1).

    Returns ``matrix`` itself when ``weight`` is 0 or the values do not vary."""
    values = np.asarray(interactions.values, dtype=np.float64)
    if weight <= 0 or values.shape[0] == 0 or not np.isfinite(values).all() or np.ptp(values) == 0:
        return matrix
    rows = users.lookup(_as_str(interactions.user_ids))
    cols = items.lookup(_as_str(interactions.item_ids))
    pairs = pd.DataFrame({"r": rows, "c": cols, "v": values}).groupby(["r", "c"], sort=False)["v"].mean()
    spread = float(pairs.std(ddof=0))
    if spread == 0 or not np.isfinite(spread):
        return matrix
    z = np.clip((pairs.to_numpy() - float(pairs.mean())) / spread, -3.0, 3.0)
    r = pairs.index.get_level_values(0).to_numpy()
    c = pairs.index.get_level_values(1).to_numpy()
    return csr_matrix((np.maximum(1.0 + weight * z, 0.1), (r, c)), shape=matrix.shape)


def _aligned_catalog(item_ids: npt.NDArray[np.str_], catalog: pd.DataFrame | None) -> pd.DataFrame:
    base = pd.DataFrame({"item_id": item_ids})
    if catalog is None:
        base["title"] = ""
        base["text"] = ""
        base["categories"] = [[] for _ in range(len(base))]
        base["created_at"] = math.nan
        base["available"] = True
        return base
    merged = base.merge(catalog, on="item_id", how="left")
    merged["title"] = merged["title"].fillna("").astype(str)
    merged["text"] = merged["text"].fillna("").astype(str)
    merged["categories"] = [c if isinstance(c, list) else [] for c in merged["categories"]]
    merged["created_at"] = merged["created_at"].astype(float)
    merged["available"] = [True if pd.isna(v) else bool(v) for v in merged["available"].tolist()]
    return merged


def _fit_content(state: ModelState, config: HybridConfig) -> None:
    catalog = state.catalog
    has_text = bool((catalog["text"].str.strip() != "").any())
    has_categories = bool(any(len(c) for c in catalog["categories"]))
    if not has_text and not has_categories:
        state.skipped["content"] = "the catalog has neither text nor categories"
        return
    content = ContentRecommender(
        max_features=config.content_max_features,
        use_text=has_text,
        use_categories=has_categories,
        category_weight=config.content_category_weight,
    ).fit_items(
        state.item_ids,
        texts={"text": catalog["text"].tolist()},
        categories={"category": catalog["categories"].tolist()},
    )
    assert content.item_matrix_ is not None
    state.tfidf = csr_matrix(content.item_matrix_, dtype=np.float32)
    state.vocabulary = content.vocabulary_
