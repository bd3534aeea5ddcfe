"""The real MovieLens 100K evaluation reproduces the datasets README's reference rows (all metrics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recsys_platform.recommenders.base import Recommender, recommend
from recsys_platform.recommenders.data import Interactions, python_stratified_split
from recsys_platform.recommenders.generators.ease import EASERecommender
from recsys_platform.recommenders.generators.popularity import PopularityRecommender
from recsys_platform.recommenders.metrics import evaluate

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "ml-100k" / "u.data"


def test_popularity_and_ease_match_the_reference_ndcg() -> None:
    if not DATA.exists():
        pytest.fail(f"MovieLens 100K is missing: expected {DATA} (see ../shared/datasets/README.md)")
    df = pd.read_csv(DATA, sep="\t", names=["userID", "itemID", "rating", "timestamp"])
    train_df, test_df = python_stratified_split(df, ratio=0.75, filter_by="item", seed=42)
    _, users, items = Interactions.from_frame(df).to_matrix()
    train, _, _ = Interactions.from_frame(train_df).to_matrix(users, items, binary=True)
    test, _, _ = Interactions.from_frame(test_df).to_matrix(users, items, binary=True)
    test_users = np.flatnonzero(np.diff(test.indptr))
    # (MAP, MAP@10, nDCG@10, P@10, R@10) of ../shared/datasets/README.md, item split
    models: dict[str, tuple[Recommender, tuple[float, ...]]] = {
        "most-popular": (PopularityRecommender(), (0.0560, 0.1374, 0.2524, 0.2287, 0.1132)),
        "EASE lambda=500": (EASERecommender(l2=500.0), (0.1491, 0.3414, 0.4829, 0.4198, 0.2277)),
    }
    for name, (model, reference) in models.items():
        recommended, _ = recommend(model.fit(train), train, test_users, 10)
        m = evaluate(recommended, test[test_users], 10)
        got = (m.map, m.map_at_k, m.ndcg_at_k, m.precision_at_k, m.recall_at_k)
        # popularity ties at the cut can order a few items differently; EASE matches to 1e-4
        tolerance = 0.0015 if name == "most-popular" else 0.0001
        for metric, value, ref in zip(
            ("MAP", "MAP@10", "nDCG@10", "P@10", "R@10"), got, reference, strict=True
        ):
            assert abs(value - ref) <= tolerance, f"{name}: {metric} {value:.4f} vs reference {ref}"
