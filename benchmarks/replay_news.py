"""Next-click quality on a real news site (Globo.com G1 sessions) through the public API.

Protocol of ``../shared/datasets/README.md`` (news-sessions-g1): a fresh ``news`` tenant
gets a history period (default the first 10 hours) of clicks through ``POST /v1/events``
(user, session, article, original timestamps, global order), one training run at the end
of history, the champion deployed. Then the test period (default the next 4 hours) is
replayed in global order (click_timestamp, session_id, position): for every click at
position >= 1 of a session, first ``POST /v1/recommendations`` (user_id, session_id, n=20)
with the session's earlier clicks sent and applied by the stream processor, then the
click is sent. Prefix articles are removed from the list, which is cut at 20; HR@10,
HR@20, MRR@20 and NDCG@20 are micro-averaged over these events.

To keep a replay of ~15k requests within minutes, test clicks go in *waves*: consecutive
clicks (global order) of distinct sessions and users, at most ``--wave`` of them; the
wave's requests are sent together, then its clicks in one batch, and the next wave waits
until the processor applied them. So every request sees its own session's prefix, and
misses at most the other clicks of its wave (seconds of event time); ``--wave 1`` is the
strict one-by-one order. The baselines (``_replay_baselines.py``) see the strict order.

    python benchmarks/replay_news.py                            # 10 h history, 4 h test
    python benchmarks/replay_news.py --history-hours 1 --test-hours 1 --max-events 300 --no-write

Needs Kafka, Redis and MLflow (``bash scripts/services/start.sh all``). Writes the section
"Replay: news sessions (G1) through the API" unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine, now, write_section  # noqa: E402
from _replay_baselines import NextItem, RecentPopular, SessionKNN  # noqa: E402
from _replay_stack import Answer, ReplayStack, replay_stack  # noqa: E402
from freshness import percentile  # noqa: E402

TITLE = "Replay: news sessions (G1) through the API"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
N = 20
SERVED = "served: POST /v1/recommendations"
SYSTEMS = (SERVED, "recent-popular (15 min)", "next-item co-occurrence", "V-SkNN (k=100, sample 500)")


@dataclass
class Score:
    """Micro-averaged next-click metrics of one system."""

    events: int = 0
    hr10: float = 0.0
    hr20: float = 0.0
    mrr20: float = 0.0
    ndcg20: float = 0.0

    def add(self, ranked: list[str], target: str) -> None:
        self.events += 1
        if target in ranked[:N]:
            rank = ranked.index(target) + 1
            self.hr20 += 1
            self.hr10 += rank <= 10
            self.mrr20 += 1 / rank
            self.ndcg20 += 1 / math.log2(rank + 1)

    def row(self, name: str) -> str:
        e = max(self.events, 1)
        return (
            f"| {name} | {self.hr10 / e:.4f} | {self.hr20 / e:.4f} | {self.mrr20 / e:.4f} | "
            f"{self.ndcg20 / e:.4f} | {self.events} |"
        )


@dataclass
class Clicks:
    """The replayed clicks in global order, split at ``t0`` (ms)."""

    frame: pd.DataFrame
    t0: int
    t1: int
    history: pd.DataFrame = field(init=False)
    test: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.history = self.frame[self.frame["click_timestamp"] < self.t0]
        self.test = self.frame[self.frame["click_timestamp"] >= self.t0]


def load_clicks(data: Path, start_hour: int, history_hours: int, test_hours: int) -> Clicks:
    """Clicks of the sessions started in hours ``[start - history, start + test]`` (files are
    by session start), cut at ``t1 = t0 + test hours``, where ``t0`` is the first session
    start of hour ``start``; positions within each session, then the global order."""
    folder = data / "news-sessions-g1" / "clicks"
    if not folder.is_dir():
        raise SystemExit(f"news-sessions-g1 not found at {folder}; pass --data <datasets folder>")
    if start_hour < history_hours:
        raise SystemExit("--start-hour must be at least --history-hours")
    frames = []
    t0 = None
    for hour in range(start_hour - history_hours, min(start_hour + test_hours + 1, 200)):
        frame = pd.read_csv(folder / f"clicks_hour_{hour:03d}.csv.gz")
        if hour == start_hour:
            t0 = int(frame["session_start"].min())
        frames.append(frame)
    if t0 is None:
        raise SystemExit(f"no clicks in hour {start_hour}")
    clicks = pd.concat(frames, ignore_index=True)
    clicks["order"] = range(len(clicks))
    clicks = clicks.sort_values(["session_id", "click_timestamp", "order"], kind="stable")
    clicks["position"] = clicks.groupby("session_id").cumcount()
    t1 = t0 + test_hours * 3_600_000
    clicks = clicks[clicks["click_timestamp"] < t1]
    clicks = clicks.sort_values(["click_timestamp", "session_id", "position"], kind="stable")
    return Clicks(clicks.reset_index(drop=True), t0, t1)


def to_event(row: Any) -> dict[str, Any]:
    return {
        "event_id": f"g1-{row.session_id}-{row.position}",
        "user_id": f"u{row.user_id}",
        "session_id": f"s{row.session_id}",
        "item_id": f"a{row.click_article_id}",
        "type": "click",
        "timestamp": datetime.fromtimestamp(row.click_timestamp / 1000, UTC).isoformat(),
    }


def waves(test: pd.DataFrame, size: int) -> list[list[Any]]:
    """Consecutive test clicks, at most ``size`` per wave, no session or user twice."""
    out: list[list[Any]] = []
    current: list[Any] = []
    sessions: set[int] = set()
    users: set[int] = set()
    for row in test.itertuples(index=False):
        if len(current) >= size or row.session_id in sessions or row.user_id in users:
            out.append(current)
            current, sessions, users = [], set(), set()
        current.append(row)
        sessions.add(row.session_id)
        users.add(row.user_id)
    if current:
        out.append(current)
    return out


def main(argv: list[str] | None = None) -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("RECSYS_DATASETS", DEFAULT_DATA)),
        help="folder holding news-sessions-g1/ (env RECSYS_DATASETS)",
    )
    parser.add_argument("--history-hours", type=int, default=10, help="hours of clicks sent before training")
    parser.add_argument("--test-hours", type=int, default=4, help="hours of clicks replayed after training")
    parser.add_argument(
        "--start-hour", type=int, default=None, help="first test hour (default: history hours)"
    )
    parser.add_argument("--max-events", type=int, default=None, help="stop after this many test events")
    parser.add_argument(
        "--wave", type=int, default=16, help="most test clicks asked for together (1 = strict)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight within a wave")
    parser.add_argument("--quick", action="store_true", help="train without the ranker (CI smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args(argv)
    start_hour = args.history_hours if args.start_hour is None else args.start_hour
    started, host = now(), machine()
    clicks = load_clicks(args.data, start_hour, args.history_hours, args.test_hours)
    history_events = [to_event(r) for r in clicks.history.itertuples(index=False)]

    popular = RecentPopular()
    next_item, knn = NextItem(popular), SessionKNN(popular)
    baselines: dict[str, Callable[[Sequence[str], str], list[str]]] = {
        SYSTEMS[1]: lambda prefix, session: popular.recommend(prefix, N),
        SYSTEMS[2]: lambda prefix, session: next_item.recommend(prefix, N),
        SYSTEMS[3]: lambda prefix, session: knn.recommend(prefix, N, session),
    }
    prefixes: dict[int, list[str]] = {}

    def observe(row: Any) -> None:
        item = f"a{row.click_article_id}"
        ts = row.click_timestamp / 1000
        for model in (popular, next_item, knn):
            model.observe(str(row.session_id), item, ts)
        prefixes.setdefault(row.session_id, []).append(item)

    for row in clicks.history.itertuples(index=False):
        observe(row)

    scores = {name: Score() for name in SYSTEMS}
    latencies: list[float] = []
    fallbacks = 0
    spans: list[float] = []
    timings: dict[str, float] = {}
    with replay_stack("news", "g1-news", "news", keep=args.keep) as stack:
        clock = time.perf_counter()
        stack.send_events(history_events)
        stack.wait_applied(len(history_events))
        stack.wait_offline(len(history_events))
        timings["ingest"] = time.perf_counter() - clock
        print(
            f"{len(history_events):,} history clicks sent and applied in {timings['ingest']:.0f} s",
            flush=True,
        )
        clock = time.perf_counter()
        run = stack.train({"model": {"ranker": {"enabled": False}}} if args.quick else None)
        timings["train"] = time.perf_counter() - clock
        version = stack.ensure_champion(run)
        stack.deploy()
        stack.recommend("replay-warm-up", n=N)
        print(f"trained in {timings['train']:.0f} s, version {version} deployed", flush=True)

        clock = time.perf_counter()
        pool = ThreadPoolExecutor(max(1, args.concurrency))
        asked = 0
        for wave in waves(clicks.test, max(1, args.wave)):
            targets = [r for r in wave if r.position >= 1]
            if args.max_events is not None:
                targets = targets[: args.max_events - asked]
            answers = list(pool.map(lambda r: _ask(stack, r), targets))
            for row, answer in zip(targets, answers, strict=True):
                prefix = prefixes[row.session_id]
                ranked = [i for i in answer.items if i not in set(prefix)][:N]
                scores[SERVED].add(ranked, f"a{row.click_article_id}")
                latencies.append(answer.latency_ms)
                fallbacks += answer.fallback
            wanted = {id(r) for r in targets}
            for row in wave:  # the baselines in strict order: ask, then learn the click
                if id(row) in wanted:
                    popular.advance(row.click_timestamp / 1000)
                    prefix = prefixes[row.session_id]
                    for name, recommend in baselines.items():
                        scores[name].add(recommend(prefix, str(row.session_id)), f"a{row.click_article_id}")
                observe(row)
            asked += len(targets)
            spans.append((wave[-1].click_timestamp - wave[0].click_timestamp) / 1000)
            stack.send_events([to_event(r) for r in wave])
            stack.wait_applied()
            if asked and asked % 1000 < len(targets):
                elapsed = time.perf_counter() - clock
                print(
                    f"{asked:,} test events, {asked / elapsed:.0f}/s, served HR@10 so far "
                    f"{scores[SERVED].hr10 / max(1, scores[SERVED].events):.4f}",
                    flush=True,
                )
            if args.max_events is not None and asked >= args.max_events:
                break
        pool.shutdown()
        timings["test"] = time.perf_counter() - clock
        notes = list(stack.notes)

    lines = ["| system | HR@10 | HR@20 | MRR@20 | NDCG@20 | events |", "|---|---|---|---|---|---|"]
    lines += [scores[name].row(name) for name in SYSTEMS]
    rendered = "\n".join(lines)
    first_ms = int(clicks.history["click_timestamp"].min())
    window = (
        f"history {datetime.fromtimestamp(first_ms / 1000, UTC):%Y-%m-%d %H:%M} "
        f"to {datetime.fromtimestamp(clicks.t0 / 1000, UTC):%Y-%m-%d %H:%M} UTC "
        f"({len(history_events):,} clicks), test to {datetime.fromtimestamp(clicks.t1 / 1000, UTC):%H:%M} UTC"
    )
    summary = (
        f"{window}; {scores[SERVED].events:,} test events (clicks at position >= 1). Platform: model "
        f"version {version} (gate: {'promoted' if run['promoted'] else 'not promoted'}), "
        f"{fallbacks} fallback answers, request latency p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms ({args.concurrency} in flight); waves of at most "
        f"{args.wave} clicks, median span {statistics.median(spans):.1f} s of event time. Ingest "
        f"{timings['ingest']:.0f} s, training run {timings['train']:.0f} s, "
        f"test replay {timings['test']:.0f} s."
        + (" Harness notes: " + "; ".join(notes) + "." if notes else "")
    )
    print(rendered)
    print(summary)
    if not args.no_write:
        command = " ".join(
            ["python benchmarks/replay_news.py", *(argv if argv is not None else sys.argv[1:])]
        )
        body = (
            f"`{command.strip()}`, {started}; {host}.\n\n"
            "Served numbers first: a fresh `news` tenant on the real services (control plane, gateway, "
            "stream processor as processes; Kafka, Redis, MLflow server; kfp.local; a local KServe model "
            "server). History clicks through `POST /v1/events` with user, session and original "
            "timestamps; one training run at the end of history (default params), the champion "
            "deployed; then the test clicks in global order: for each click at position >= 1, "
            "`POST /v1/recommendations` (user_id, session_id, n=20) with the session prefix applied, "
            "then the click. Prefix articles removed, lists cut at 20, metrics micro-averaged over "
            "events. Baselines (`benchmarks/_replay_baselines.py`) are fed the same history and test "
            "clicks in strict order and fill their lists with recent-popular.\n\n"
            + rendered
            + "\n\n"
            + summary
        )
        write_section(TITLE, body)


def _ask(stack: ReplayStack, row: Any) -> Answer:
    return stack.recommend(f"u{row.user_id}", n=N, session_id=f"s{row.session_id}")


if __name__ == "__main__":
    main()
