"""Impression re-ranking on the MIND sample through ``POST /v1/rerank``, as a tenant sees it.

``../shared/datasets/mind-small-sample/behaviors.tsv`` (5,000 impressions of MIND-small
train, a random subset; see the datasets README caveats: ``news.tsv`` is an independent
subset, so there is no joined content and the catalog is left empty). A fresh ``news``
tenant gets every user's click history (the clicks before the log period, MIND's
``history`` column) as ``click`` events, dated in the hour before the first impression in
history order (MIND gives no times for them); one training run, the champion deployed.
Then the impressions are replayed in time order: for each impression the platform already
has the user's history and every earlier impression click, the candidates go to
``POST /v1/rerank`` (user_id, items), and afterwards the impression's clicks are sent as
``click`` events at the impression time. Requests go in waves of at most ``--wave``
impressions of distinct users (asked together, then their clicks sent and applied).

Per impression: AUC, MRR, nDCG@5, nDCG@10 of the returned order (MIND's definitions:
clicked = 1; MRR over clicked items; gains 2^rel - 1, log2 discount), averaged over
impressions with at least one click and one non-click. Baselines on the same impressions:
popularity (clicks the platform has received so far, history included), recency (the
article first seen most recently in the log, impressions and histories), and the
impression's given order. The published rows (NRMS, NPA, LSTUR, Wu et al., ACL 2020) are
on the full MIND test set with title encoders: a distant reference only.

    python benchmarks/replay_mind.py                 # 5,000 impressions
    python benchmarks/replay_mind.py --impressions 200 --no-write

Needs Kafka, Redis, MLflow and a gateway with ``POST /v1/rerank``. Writes the section
"Replay: MIND sample through the API" unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine, now, write_section  # noqa: E402
from _replay_stack import Answer, PlatformError, RerankUnavailable, replay_stack  # noqa: E402
from freshness import percentile  # noqa: E402

TITLE = "Replay: MIND sample through the API"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
SERVED = "served: POST /v1/rerank"
SYSTEMS = (SERVED, "popularity (clicks so far)", "recency (first seen in the log)", "given order")
# Wu et al., "MIND: A Large-scale Dataset for News Recommendation", ACL 2020, Table 3
# (MIND test set, GloVe title encoders): AUC, MRR, nDCG@5, nDCG@10, in %. Values as recalled
# from the paper; check them against the paper before citing them elsewhere.
PUBLISHED = {
    "NPA": (66.69, 32.24, 34.98, 40.68),
    "LSTUR": (67.73, 32.77, 35.59, 41.34),
    "NRMS": (67.76, 33.05, 35.94, 41.63),
}


@dataclass
class Impression:
    id: str
    user: str
    time: datetime
    history: list[str]
    items: list[str]
    clicked: set[str]


def load_behaviors(data: Path, limit: int | None) -> list[Impression]:
    path = data / "mind-small-sample" / "behaviors.tsv"
    if not path.exists():
        raise SystemExit(f"MIND sample not found at {path}; pass --data <datasets folder>")
    frame = pd.read_csv(
        path, sep="\t", header=None, names=["imp", "user", "time", "history", "impressions"], quoting=3
    )
    frame["t"] = pd.to_datetime(frame["time"], format="%m/%d/%Y %I:%M:%S %p", utc=True)
    frame = frame.sort_values(["t", "imp"], kind="stable")
    out = []
    for row in frame.itertuples(index=False):
        pairs = [p.rsplit("-", 1) for p in str(row.impressions).split()]
        history = str(row.history).split() if isinstance(row.history, str) else []
        items = list(dict.fromkeys(i for i, _ in pairs))  # unique, first position kept
        out.append(
            Impression(
                str(row.imp),
                str(row.user),
                row.t.to_pydatetime(),
                history,
                items,
                {i for i, c in pairs if c == "1"},
            )
        )
    return out[:limit] if limit is not None else out


def metrics(order: list[str], clicked: set[str]) -> tuple[float, float, float, float] | None:
    """AUC, MRR, nDCG@5, nDCG@10 of one ranked impression (None without both labels)."""
    labels = [1 if i in clicked else 0 for i in order]
    pos, neg = sum(labels), len(labels) - sum(labels)
    if not pos or not neg:
        return None
    # AUC: share of (clicked, not clicked) pairs ordered correctly
    seen_neg, good = 0, 0
    for lab in reversed(labels):
        if lab:
            good += seen_neg
        else:
            seen_neg += 1
    auc = good / (pos * neg)
    mrr = sum(lab / (r + 1) for r, lab in enumerate(labels)) / pos

    def ndcg(k: int) -> float:
        dcg = sum(lab / math.log2(r + 2) for r, lab in enumerate(labels[:k]))
        ideal = sum(1 / math.log2(r + 2) for r in range(min(pos, k)))
        return dcg / ideal

    return auc, mrr, ndcg(5), ndcg(10)


def complete(answer: list[str], items: list[str]) -> list[str]:
    """The served order with any candidate the answer left out appended in the given order."""
    kept = [i for i in answer if i in set(items)]
    return kept + [i for i in items if i not in set(kept)]


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("RECSYS_DATASETS", DEFAULT_DATA)),
        help="folder holding mind-small-sample/ (env RECSYS_DATASETS)",
    )
    parser.add_argument(
        "--impressions", type=int, default=None, help="only the first N impressions (in time)"
    )
    parser.add_argument("--wave", type=int, default=16, help="impressions asked for together (1 = strict)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight within a wave")
    parser.add_argument("--quick", action="store_true", help="train without the ranker (CI smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args(argv)
    started, host = now(), machine()
    impressions = load_behaviors(args.data, args.impressions)
    first = impressions[0].time
    # every user's history once, in the hour before the log, in history order
    histories: dict[str, list[str]] = {}
    for imp in impressions:
        histories.setdefault(imp.user, imp.history)
    history_events = []
    pops: Counter[str] = Counter()
    first_seen: dict[str, float] = {}
    n_hist = sum(len(h) for h in histories.values())
    step = 3600 / max(n_hist, 1)
    k = 0
    for user, items in histories.items():
        for pos, item in enumerate(items):
            ts = first - timedelta(seconds=3600 - k * step)
            history_events.append(
                {
                    "event_id": f"mind-h-{user}-{pos}",
                    "user_id": user,
                    "item_id": item,
                    "type": "click",
                    "timestamp": ts.isoformat(),
                }
            )
            pops[item] += 1
            first_seen.setdefault(item, ts.timestamp())
            k += 1

    sums = {name: [0.0, 0.0, 0.0, 0.0] for name in SYSTEMS}
    counted = 0
    latencies: list[float] = []
    fallbacks = 0
    timings: dict[str, float] = {}
    with replay_stack("mind", "mind-news", "news", keep=args.keep) as stack:
        if not stack.has_rerank():
            raise RerankUnavailable(
                "the gateway has no POST /v1/rerank: this replay needs it (everything else is in place)"
            )
        clock = time.perf_counter()
        stack.send_events(history_events)
        stack.wait_applied(len(history_events))
        stack.wait_offline(len(history_events))
        timings["ingest"] = time.perf_counter() - clock
        print(f"{len(history_events):,} history clicks of {len(histories):,} users applied", flush=True)
        clock = time.perf_counter()
        run = stack.train({"model": {"ranker": {"enabled": False}}} if args.quick else None)
        timings["train"] = time.perf_counter() - clock
        version = stack.ensure_champion(run)
        stack.deploy()
        print(f"trained in {timings['train']:.0f} s, version {version} deployed", flush=True)
        clock = time.perf_counter()
        pool = ThreadPoolExecutor(max(1, args.concurrency))
        waves: list[list[Impression]] = [[]]
        for imp in impressions:
            if len(waves[-1]) >= max(1, args.wave) or imp.user in {w.user for w in waves[-1]}:
                waves.append([])
            waves[-1].append(imp)
        errors: list[str] = []

        def ask(imp: Impression) -> Answer:
            try:
                return stack.rerank(imp.user, imp.items)
            except PlatformError as exc:  # a server error: counted, the list stays in the given order
                errors.append(f"impression {imp.id}: {exc}")
                return Answer(list(imp.items), True, float("nan"), 500)

        for wave in waves:
            answers = list(pool.map(ask, wave))
            clicks = []
            for imp, answer in zip(wave, answers, strict=True):
                for item in imp.items:
                    first_seen.setdefault(item, imp.time.timestamp())
                orders = {
                    SERVED: complete(answer.items, imp.items),
                    SYSTEMS[1]: sorted(imp.items, key=lambda i: -pops[i]),
                    SYSTEMS[2]: sorted(imp.items, key=lambda i: -first_seen[i]),
                    SYSTEMS[3]: list(imp.items),
                }
                scored = {name: metrics(order, imp.clicked) for name, order in orders.items()}
                if scored[SERVED] is not None:
                    counted += 1
                    for name, values in scored.items():
                        assert values is not None
                        for j, v in enumerate(values):
                            sums[name][j] += v
                if answer.status == 200:
                    latencies.append(answer.latency_ms)
                    fallbacks += answer.fallback
                for pos, item in enumerate(sorted(imp.clicked)):
                    pops[item] += 1
                    clicks.append(
                        {
                            "event_id": f"mind-c-{imp.id}-{pos}",
                            "user_id": imp.user,
                            "item_id": item,
                            "type": "click",
                            "timestamp": imp.time.isoformat(),
                        }
                    )
            if clicks:
                stack.send_events(clicks)
                stack.wait_applied()
        pool.shutdown()
        for error in errors[:3]:
            print(f"platform error: {error}", file=sys.stderr)
        timings["test"] = time.perf_counter() - clock
        notes = list(stack.notes)

    lines = ["| system | AUC | MRR | nDCG@5 | nDCG@10 | impressions |", "|---|---|---|---|---|---|"]
    for name in SYSTEMS:
        s = [v / max(counted, 1) for v in sums[name]]
        lines.append(f"| {name} | {s[0]:.4f} | {s[1]:.4f} | {s[2]:.4f} | {s[3]:.4f} | {counted} |")
    for name, (auc, mrr, n5, n10) in PUBLISHED.items():
        lines.append(
            f"| {name} (published, full MIND test, Wu et al. 2020) | {auc / 100:.4f} | {mrr / 100:.4f} | "
            f"{n5 / 100:.4f} | {n10 / 100:.4f} | |"
        )
    rendered = "\n".join(lines)
    summary = (
        f"{len(impressions):,} impressions from {first:%Y-%m-%d %H:%M} UTC; {len(history_events):,} history "
        f"clicks of {len(histories):,} users; model version {version} "
        f"(gate: {'promoted' if run['promoted'] else 'not promoted'}); {fallbacks} fallback answers "
        f"(the given order); {len(errors)} requests failed (5xx, scored in the given order)"
        + (f", first: {errors[0][:300]}" if errors else "")
        + f"; request latency p50 {statistics.median(latencies):.1f} ms, p99 "
        f"{percentile(latencies, 99):.1f} ms. Ingest {timings['ingest']:.0f} s, training "
        f"{timings['train']:.0f} s, replay {timings['test']:.0f} s."
        + (" Harness notes: " + "; ".join(notes) + "." if notes else "")
    )
    print(rendered)
    print(summary)
    if not args.no_write:
        body = (
            f"`python benchmarks/replay_mind.py`, {started}; {host}.\n\n"
            "Served numbers first. A fresh `news` tenant on the real services gets every user's MIND "
            "history as click events (dated in the hour before the log; MIND gives no times), one "
            "training run, the champion deployed; then the impressions in time order: candidates "
            "through `POST /v1/rerank`, then the impression's clicks as events. Items the answer "
            "leaves out are appended in the given order. Per-impression metrics averaged over "
            "impressions with a click and a non-click. This sample's `news.tsv` is an independent "
            "subset (about 2% of clicked ids have text), so no catalog is imported: id signals only. "
            "The published rows are full MIND with neural title encoders, a distant reference.\n\n"
            + rendered
            + "\n\n"
            + summary
        )
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
