"""MovieLens 100K measured through the public API, as a tenant sees it.

Same split and metrics as ``benchmarks/quality_movielens.py`` (imported from it):
``python_stratified_split(ratio=0.75, filter_by="item", seed=42)``, every held-out rating
relevant, top-10. A fresh tenant (use case ``video``) gets the u.item catalog (titles,
genres) through the catalog API and its training ratings as ``rating`` events (value =
stars, original timestamps, time order) through ``POST /v1/events``; once the stream
processor has applied them, a training run with the library benchmark's model recipe
registers a model, the champion is deployed, and every test user's list comes from
``POST /v1/recommendations`` (n=10). Rows, in this order:

1. served: what the gateway answered;
2. library, full history: the same registered artifact (downloaded from MLflow) scored
   in-process with each user's full training history (``recommenders/evaluation.py``),
   as ``quality_movielens.py`` scores its own fit;
3. library, last-50 history: the same, with the 50 most recent training items as the
   signal (what the online store keeps), all training items still excluded;
4. most-popular (the library recipe on the training split).

    python benchmarks/replay_movielens.py                    # ~10 min on 2 cores
    python benchmarks/replay_movielens.py --users 100 --no-write   # CI smoke

Needs Kafka, Redis and MLflow (``bash scripts/services/start.sh all``). Writes the section
"Replay: MovieLens 100K through the API" to docs/benchmarks.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine, now, write_section  # noqa: E402
from _replay_stack import replay_stack  # noqa: E402
from freshness import percentile  # noqa: E402
from quality_movielens import (  # noqa: E402
    DEFAULT_DATA,
    K,
    hybrid_config,
    load_catalog,
    load_ml100k,
    recipes,
)
from recsys_platform.recommenders.base import recommend  # noqa: E402
from recsys_platform.recommenders.data import (  # noqa: E402
    IdIndex,
    Interactions,
    python_stratified_split,
    train_histories,
)
from recsys_platform.recommenders.metrics import RankingMetrics, evaluate  # noqa: E402

TITLE = "Replay: MovieLens 100K through the API"
SERVED = "served: POST /v1/recommendations"
LIBRARY_FULL = "library, full history (same artifact)"
LIBRARY_50 = "library, last-50 history (same artifact)"
POPULAR = "most-popular (library)"


def rating_events(train_df: pd.DataFrame) -> list[dict[str, Any]]:
    """The training ratings as the tenant sends them: one ``rating`` event each, in time order."""
    ordered = train_df.sort_values("timestamp", kind="stable")
    return [
        {
            "event_id": f"ml-{u}-{i}",
            "user_id": str(u),
            "item_id": str(i),
            "type": "rating",
            "value": float(r),
            "timestamp": datetime.fromtimestamp(int(t), UTC).isoformat(),
        }
        for u, i, r, t in ordered[["userID", "itemID", "rating", "timestamp"]].itertuples(index=False)
    ]


def catalog_items(catalog: pd.DataFrame) -> list[dict[str, Any]]:
    """u.item in the ``video`` catalog schema: the title (text) and the genres."""
    return [
        {"item_id": row.item_id, "title": row.title, "genres": list(row.categories)}
        for row in catalog.itertuples(index=False)
    ]


def score_lists(lists: dict[str, list[str]], test_df: pd.DataFrame, item_ids: np.ndarray) -> RankingMetrics:
    """Top-K metrics of one list per test user (``quality_movielens.run_hybrid``'s matrices)."""
    test_users = np.asarray(test_df["userID"]).astype(str)
    users = IdIndex.from_ids(test_users)
    items = IdIndex.from_ids(np.concatenate([item_ids, np.asarray(test_df["itemID"]).astype(str)]))
    relevant, _, _ = Interactions(
        test_users, np.asarray(test_df["itemID"]).astype(str), np.ones(len(test_df)), None
    ).to_matrix(users, items, binary=True)
    recommended = np.full((len(users), K), -1, dtype=np.int64)
    for row, user in enumerate(users.ids):
        recs = lists.get(str(user), [])[:K]
        if recs:
            recommended[row, : len(recs)] = items.lookup(np.asarray(recs))
    return evaluate(recommended, relevant, K)


def library_lists(
    model: Any, train_df: pd.DataFrame, users: list[str], limit: int | None
) -> dict[str, list[str]]:
    """The artifact's lists from each user's training history (most recent first), cut to
    ``limit`` items of signal; every training item stays excluded."""
    histories = train_histories(Interactions.from_frame(train_df))
    out = {}
    for user in users:
        seen = histories.get(user, [])
        exclude = seen[limit:] if limit is not None else ()
        out[user] = [r.item_id for r in model.recommend(seen[:limit], K, exclude=exclude)]
    return out


def most_popular(df: pd.DataFrame, train_df: pd.DataFrame, test_df: pd.DataFrame) -> RankingMetrics:
    """The library's most-popular recipe, scored as ``quality_movielens.run`` scores it."""
    _, users, items = Interactions.from_frame(df).to_matrix()
    train, _, _ = Interactions.from_frame(train_df).to_matrix(users, items, binary=True)
    test, _, _ = Interactions.from_frame(test_df).to_matrix(users, items, binary=True)
    test_users = np.flatnonzero(np.diff(test.indptr))
    model = recipes()["most-popular"]()
    model.fit(train)
    recommended, _ = recommend(model, train, test_users, K)
    return evaluate(recommended, test[test_users], K)


def table(rows: list[tuple[str, RankingMetrics]]) -> str:
    lines = ["| row | MAP | nDCG@10 | P@10 | R@10 | MAP@10 |", "|---|---|---|---|---|---|"]
    for name, m in rows:
        lines.append(
            f"| {name} | {m.map:.4f} | {m.ndcg_at_k:.4f} | {m.precision_at_k:.4f} | "
            f"{m.recall_at_k:.4f} | {m.map_at_k:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("RECSYS_DATASETS", DEFAULT_DATA)),
        help="folder holding ml-100k/ (env RECSYS_DATASETS)",
    )
    parser.add_argument("--users", type=int, default=None, help="only the first N users (CI smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args(argv)
    started, host = now(), machine()
    df = load_ml100k(args.data)
    if args.users is not None:
        df = df[df["userID"].isin(sorted(df["userID"].unique())[: args.users])]
    train_df, test_df = python_stratified_split(df, ratio=0.75, filter_by="item", seed=42)
    events = rating_events(train_df)
    quick = args.users is not None
    recipe = hybrid_config(quick).model_dump(mode="json", exclude_defaults=True)
    test_users = sorted({str(u) for u in test_df["userID"]}, key=int)
    timings: dict[str, float] = {}

    with replay_stack("ml", "ml100k", "video", keep=args.keep) as stack:
        clock = time.perf_counter()
        stack.import_catalog(catalog_items(load_catalog(args.data)))
        stack.send_events(events)
        timings["send"] = time.perf_counter() - clock
        stack.wait_applied(len(events))
        stack.wait_offline(len(events))
        timings["ingest"] = time.perf_counter() - clock
        print(f"{len(events):,} rating events sent and applied in {timings['ingest']:.1f} s", flush=True)
        clock = time.perf_counter()
        run = stack.train({"model": recipe})
        timings["train"] = time.perf_counter() - clock
        version = stack.ensure_champion(run)
        print(f"training run {run['status']} in {timings['train']:.0f} s: version {version}", flush=True)
        clock = time.perf_counter()
        stack.deploy()
        timings["deploy"] = time.perf_counter() - clock
        stack.recommend("replay-warm-up", n=K)  # first request loads lazily; not a test user
        served: dict[str, list[str]] = {}
        latencies, fallbacks = [], 0
        for user in test_users:
            answer = stack.recommend(user, n=K)
            served[user] = answer.items
            latencies.append(answer.latency_ms)
            fallbacks += answer.fallback
        print(f"{len(test_users)} users served, {fallbacks} fallbacks", flush=True)
        from recsys_platform.recommenders.artifact import load_model

        model = load_model(stack.download_model(version))
        notes = list(stack.notes)

    full = library_lists(model, train_df, test_users, None)
    last50 = library_lists(model, train_df, test_users, 50)
    item_ids = np.asarray(model.item_ids)
    rows = [
        (SERVED, score_lists(served, test_df, item_ids)),
        (LIBRARY_FULL, score_lists(full, test_df, item_ids)),
        (LIBRARY_50, score_lists(last50, test_df, item_ids)),
        (POPULAR, most_popular(df, train_df, test_df)),
    ]
    same_full = sum(served[u] == full[u] for u in test_users)
    same_50 = sum(served[u] == last50[u] for u in test_users)
    s, f = rows[0][1], rows[1][1]
    gap = s.ndcg_at_k - f.ndcg_at_k
    met = s.ndcg_at_k >= 0.49 and abs(gap) <= 0.005
    rendered = table(rows)
    summary = (
        f"Served nDCG@10 {s.ndcg_at_k:.4f} vs library full history {f.ndcg_at_k:.4f} "
        f"(served - library {gap:+.4f}; target served >= 0.49 and within 0.005: "
        f"{'met' if met else 'not met'}). "
        f"Identical top-10 lists: {same_full}/{len(test_users)} with the full-history library list, "
        f"{same_50}/{len(test_users)} with the last-50 one. {len(events):,} rating events, "
        f"{len(test_users)} test users; model version {version} "
        f"(gate: {'promoted' if run['promoted'] else 'not promoted'}; pipeline metrics ndcg@10 "
        f"{run['metrics'].get('ndcg_at_10', float('nan')):.4f} on its temporal hold-out); "
        f"{fallbacks} fallback answers; request latency p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms (sequential). Ingest (send + applied + offline) "
        f"{timings['ingest']:.0f} s, training run {timings['train']:.0f} s, deploy {timings['deploy']:.0f} s."
        + (" Harness notes: " + "; ".join(notes) + "." if notes else "")
    )
    print(rendered)
    print(summary)
    if not args.no_write and args.users is None:
        body = (
            f"`python benchmarks/replay_movielens.py`, {started}; {host}.\n\n"
            "Served numbers first: a fresh `video` tenant on the real services (control plane, "
            "gateway and stream processor as processes; Kafka, Redis, MLflow server; kfp.local "
            "training; a local KServe model server). The u.item catalog goes through the catalog "
            "API, the training ratings of the Microsoft Recommenders split "
            '(`python_stratified_split(ratio=0.75, filter_by="item", seed=42)`, imported from '
            "`quality_movielens.py`) as `rating` events with their original timestamps through "
            "`POST /v1/events`; one training run with the library benchmark's recipe "
            f"(`params.model` = `{recipe}`), the champion deployed, then `POST /v1/recommendations` "
            "n=10 for every test user. The library rows score the same registered artifact "
            "in-process (full history = every training item, most recent first; last-50 = the 50 "
            "most recent as signal, all training items excluded). Every held-out rating is relevant.\n\n"
            + rendered
            + "\n\n"
            + summary
        )
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
