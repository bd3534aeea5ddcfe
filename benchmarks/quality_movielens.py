"""Offline ranking quality of the recommender recipes on MovieLens 100K.

Microsoft Recommenders protocol: ``python_stratified_split(ratio=0.75, min_rating=1,
filter_by="item", seed=42)``, every held-out rating relevant, items seen in training
removed, top-10 lists. Prints each recipe beside the reference rows of
``../shared/datasets/README.md`` and the published Microsoft Recommenders rows.

    OPENBLAS_NUM_THREADS=1 python benchmarks/quality_movielens.py
    python benchmarks/quality_movielens.py --data /path/to/datasets --no-write

Writes the section "Quality: MovieLens 100K" to docs/benchmarks.md (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "platform"))
from _machine import machine, now, write_section  # noqa: E402
from recsys_platform.recommenders.als import ALSRecommender  # noqa: E402
from recsys_platform.recommenders.base import Recommender, recommend  # noqa: E402
from recsys_platform.recommenders.data import Interactions, python_stratified_split  # noqa: E402
from recsys_platform.recommenders.ease import EASERecommender  # noqa: E402
from recsys_platform.recommenders.item_knn import ItemKNNRecommender  # noqa: E402
from recsys_platform.recommenders.metrics import RankingMetrics, evaluate  # noqa: E402
from recsys_platform.recommenders.popularity import PopularityRecommender  # noqa: E402

K = 10
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"

# name -> (MAP, MAP@10, nDCG@10, P@10, R@10) from ../shared/datasets/README.md, filter_by="item".
REFERENCE = {
    "most-popular": (0.0560, 0.1374, 0.2524, 0.2287, 0.1132),
    "implicit ALS (f=32, reg=1.0, alpha=1, 15 it)": (0.1337, 0.2964, 0.4434, 0.3869, 0.2150),
    "item-kNN cosine, implicit (K=50)": (0.1149, 0.2620, 0.3977, 0.3439, 0.1860),
    "EASE (lambda=500)": (0.1491, 0.3414, 0.4829, 0.4198, 0.2277),
}
# Microsoft Recommenders examples/06_benchmarks/movielens.ipynb (b02c95e): MAP, nDCG@10, P@10, R@10.
PUBLISHED = {
    "BiVAE": (0.1436, 0.4687, 0.4082, 0.2209),
    "BPR": (0.1340, 0.4450, 0.3887, 0.2166),
    "LightGCN": (0.1209, 0.4164, 0.3592, 0.1960),
    "SAR": (0.1140, 0.3938, 0.3406, 0.1854),
    "NCF": (0.0952, 0.3686, 0.3269, 0.1632),
    "SVD": (0.0121, 0.0944, 0.0891, 0.0301),
    "Spark ALS (explicit)": (0.0033, 0.0332, 0.0385, 0.0134),
}


def recipes() -> dict[str, Callable[[], Recommender]]:
    """The recipes with the hyper-parameters chosen in the datasets README (item split)."""
    return {
        "most-popular": PopularityRecommender,
        "implicit ALS (f=32, reg=1.0, alpha=1, 15 it)": lambda: ALSRecommender(
            factors=32, regularization=1.0, alpha=1.0, iterations=15
        ),
        "item-kNN cosine, implicit (K=50)": lambda: ItemKNNRecommender(neighbours=50),
        "EASE (lambda=500)": lambda: EASERecommender(l2=500.0),
    }


def load_ml100k(data_dir: Path) -> pd.DataFrame:
    """Reads ``ml-100k/u.data`` under ``data_dir``; exits with a message if it is missing."""
    path = data_dir / "ml-100k" / "u.data"
    if not path.exists():
        raise SystemExit(f"MovieLens 100K not found at {path}; pass --data <datasets folder>")
    return pd.read_csv(path, sep="\t", names=["userID", "itemID", "rating", "timestamp"])


def run(df: pd.DataFrame) -> list[tuple[str, RankingMetrics, float]]:
    """Splits, trains every recipe and evaluates top-10; returns (name, metrics, train s)."""
    train_df, test_df = python_stratified_split(df, ratio=0.75, filter_by="item", seed=42)
    full = Interactions.from_frame(df)
    _, users, items = full.to_matrix()
    train, _, _ = Interactions.from_frame(train_df).to_matrix(users, items, binary=True)
    test, _, _ = Interactions.from_frame(test_df).to_matrix(users, items, binary=True)
    test_users = np.flatnonzero(np.diff(test.indptr))
    results = []
    for name, make in recipes().items():
        model = make()
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        recommended, _ = recommend(model, train, test_users, K)
        results.append((name, evaluate(recommended, test[test_users], K), seconds))
    return results


def table(results: list[tuple[str, RankingMetrics, float]]) -> str:
    """Renders ours, the README reference and the published rows as one markdown table."""
    lines = [
        "| model | source | MAP | MAP@10 | nDCG@10 | P@10 | R@10 | coverage@10 | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m, seconds in results:
        lines.append(
            f"| {name} | this run | {m.map:.4f} | {m.map_at_k:.4f} | {m.ndcg_at_k:.4f} | "
            f"{m.precision_at_k:.4f} | {m.recall_at_k:.4f} | {m.coverage_at_k:.3f} | {seconds:.2f} |"
        )
        ref = REFERENCE[name]
        cells = " | ".join(f"{v:.4f}" for v in ref)
        lines.append(f"| {name} | README reference | {cells} | | |")
        delta = f"{m.ndcg_at_k - ref[2]:+.4f}"
        lines.append(f"| {name} | difference (nDCG@10) | | | {delta} | | | | |")
    for name, (map_, ndcg, p, r) in PUBLISHED.items():
        lines.append(
            f"| {name} | published (MS Recommenders) | {map_:.4f} | | {ndcg:.4f} | {p:.4f} | {r:.4f} | | |"
        )
    return "\n".join(lines)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding ml-100k/")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    started, host = now(), machine()
    results = run(load_ml100k(args.data))
    rendered = table(results)
    print(rendered)
    if not args.no_write:
        body = (
            f"`python benchmarks/quality_movielens.py`, {started}; {host}.\n\n"
            'Microsoft Recommenders protocol: `python_stratified_split(ratio=0.75, filter_by="item", '
            "seed=42)`, every held-out rating relevant, training items removed, top-10. Reference rows "
            "are from `../shared/datasets/README.md`; published rows from Microsoft Recommenders "
            "`examples/06_benchmarks/movielens.ipynb` (no MAP@10 there). Train seconds are single runs "
            "with `OPENBLAS_NUM_THREADS=1`.\n\n" + rendered
        )
        write_section("Quality: MovieLens 100K", body)


if __name__ == "__main__":
    main()
