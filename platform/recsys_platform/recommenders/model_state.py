"""The fitted arrays of the hybrid recommender and the code that fits them.

Item statistics (counts, event times, categories, catalog) live here; everything a candidate
generator learned lives in that generator (``recommenders/generators``), one per kind. Every
array is numpy, scipy sparse, FAISS, a pandas frame or a string, so the artifact can store it
without pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.data import IdIndex, Interactions
from recsys_platform.recommenders.exceptions import InsufficientDataError
from recsys_platform.recommenders.generators import REGISTRY, FitData, Generator, SkipGenerator
from recsys_platform.recommenders.generators.popularity import PopularityGenerator

F32 = npt.NDArray[np.float32]


@dataclass
class ModelState:
    """Fitted arrays; item arrays are in the order of ``item_ids`` (sorted)."""

    item_ids: npt.NDArray[np.str_]
    catalog: pd.DataFrame
    category_names: list[str]
    item_categories: csr_matrix
    counts: F32
    last_event: F32
    first_event: F32
    fitted_at: float
    n_users: int
    n_events: int
    generators: dict[str, Generator[Any]] = field(default_factory=dict)
    """The fitted generators by kind (popularity is always there)."""
    time_hist: F32 | None = None
    """Each item's interaction-time distribution over ``time_bins`` bins (rows sum to 1 or 0)."""
    time_global: F32 | None = None
    """The distribution of all training events over the same bins (smoothed, > 0)."""
    ranker_model: str | None = None
    stream_ranker_model: str | None = None
    """LightGBM text of the stream ranker (``stream_blend.fit_stream_ranker``), if one was kept."""
    skipped: dict[str, str] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        """Number of items in the model's index."""
        return int(self.item_ids.shape[0])

    @property
    def popularity(self) -> F32:
        """The popularity generator's (time-decayed) item scores."""
        generator = self.generators["popularity"]
        assert isinstance(generator, PopularityGenerator)
        return generator.scores


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
        last_event=last_event,
        first_event=first_event,
        fitted_at=fitted_at,
        n_users=len(users),
        n_events=len(interactions),
        time_hist=time_hist,
        time_global=time_global,
    )
    data = FitData(
        matrix=matrix,
        users=users,
        items=items,
        interactions=Interactions(user_ids, item_ids, interactions.values, interactions.timestamps),
        item_cols=cols,
        times=times,
        catalog=aligned,
        seed=config.seed,
        num_threads=config.num_threads,
    )
    for settings in config.generators:
        try:
            state.generators[settings.kind] = REGISTRY[settings.kind].fit(data, settings)
        except SkipGenerator as skipped:
            state.skipped[settings.kind] = str(skipped)
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
