"""The real MovieLens 100K evaluation reproduces the datasets README's reference rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recsys_platform.recommenders.base import Recommender, recommend
from recsys_platform.recommenders.data import Interactions, python_stratified_split
from recsys_platform.recommenders.ease import EASERecommender
from recsys_platform.recommenders.metrics import ndcg_at_k
from recsys_platform.recommenders.popularity import PopularityRecommender

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
    models: dict[str, tuple[Recommender, float]] = {
        "most-popular": (PopularityRecommender(), 0.2524),
        "EASE lambda=500": (EASERecommender(l2=500.0), 0.4829),
    }
    for name, (model, reference) in models.items():
        recommended, _ = recommend(model.fit(train), train, test_users, 10)
        got = ndcg_at_k(recommended, test[test_users], 10)
        assert abs(got - reference) <= 0.002, f"{name}: nDCG@10 {got:.4f} vs reference {reference}"
