"""Shared fixtures of the deployer tests: a real saved model artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HybridRecommender fitted on a small generated log and saved with save_model."""
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.config import RankerConfig
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridConfig, HybridRecommender

    rng = np.random.default_rng(7)
    rows = [
        (f"u{u}", f"i{int(rng.integers(0, 60))}", 1.7e9 + u * 100 + k) for u in range(50) for k in range(12)
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    log = Interactions.from_frame(
        events, user_col="user_id", item_col="item_id", value_col=None, timestamp_col="ts"
    )
    catalog = catalog_frame(
        [{"item_id": f"i{i}", "title": f"Item {i}", "genres": [f"g{i % 4}"]} for i in range(60)]
    )
    model = HybridRecommender.fit(
        log, catalog, HybridConfig(ranker=RankerConfig(enabled=False)).with_generator("als", iterations=3)
    )
    return save_model(model, tmp_path_factory.mktemp("artifact") / "model")
