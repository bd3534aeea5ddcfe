"""Streaming item state: Redis apply throughput, signals() latency and memory for one big tenant.

Replays a synthetic news-like stream (Zipf item popularity, short sessions, 24 h of event time)
of ``--events`` clicks over ``--items`` items into ``RedisItemStats`` in batches, then times
``signals()`` for sessions drawn from the stream. Also times the in-memory reference adapter
on a slice (offline replays). Prints numbers; asserts nothing. Needs Redis
(``bash scripts/services/start.sh redis``); cleans up its keys.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.streaming.memory import MemoryItemStats
from recsys_platform.streaming.redis_store import RedisItemStats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine, now, write_section  # noqa: E402

SERVICES_ENV = Path(__file__).resolve().parents[1] / ".cache" / "services" / "env"
T0 = 1_700_000_000_000


def _redis_url() -> str | None:
    if os.environ.get("RECSYS_TEST_REDIS_URL"):
        return os.environ["RECSYS_TEST_REDIS_URL"]
    if SERVICES_ENV.exists():
        for line in SERVICES_ENV.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key.strip() == "RECSYS_TEST_REDIS_URL":
                return value.strip().strip("'\"")
    return None


def synthetic_stream(n_events: int, n_items: int, seed: int) -> tuple[list[ItemEvent], list[list[str]]]:
    """Clicks in sessions of 1-15 items over 24 h; item popularity ~ Zipf(1.1); newer items hotter."""
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.1, size=n_events * 2)
    ranks = ranks[ranks <= n_items][:n_events] - 1
    lengths = rng.integers(1, 16, size=n_events // 2 + 1)
    span_ms = 24 * 3_600_000
    events: list[ItemEvent] = []
    sessions: list[list[str]] = []
    i = 0
    s = 0
    while i < n_events:
        length = int(min(lengths[s], n_events - i))
        start = T0 + int(span_ms * i / n_events)
        items = [f"item-{int(r)}" for r in ranks[i : i + length]]
        sid = f"s{s}"
        for j, item in enumerate(items):
            events.append(ItemEvent(f"e{i + j}", f"u{s % 200_000}", item, start + 20_000 * j, sid))
        sessions.append(items)
        i += length
        s += 1
    # Sessions interleave in time: apply in (roughly) event-time order as a stream would deliver.
    events.sort(key=lambda e: e.timestamp_ms)
    return events, sessions


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--memory-events", type=int, default=300_000)
    parser.add_argument("--redis-url", default=_redis_url())
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    if not args.redis_url:
        raise SystemExit("Redis is needed: run `bash scripts/services/start.sh redis` first")

    t = time.perf_counter()
    events, sessions = synthetic_stream(args.events, args.items, seed=1)
    say(
        f"stream: {len(events):,} events, {len(sessions):,} sessions, built in {time.perf_counter() - t:.1f}s"
    )
    config = StreamingConfig()
    prefix = f"bench:stream:{uuid.uuid4().hex[:8]}"
    store = RedisItemStats(args.redis_url, config, key_prefix=prefix)
    tenant = "bench-news"
    try:
        t = time.perf_counter()
        batch_s: list[float] = []
        for start in range(0, len(events), args.batch):
            b = time.perf_counter()
            store.apply(tenant, events[start : start + args.batch])
            batch_s.append(time.perf_counter() - b)
        elapsed = time.perf_counter() - t
        say(
            f"redis apply: {len(events) / elapsed:,.0f} events/s ({elapsed:.1f}s, batches of {args.batch}:"
            f" p50 {1000 * statistics.median(batch_s):.1f} ms, p99 {1000 * percentile(batch_s, 0.99):.1f} ms)"
        )
        # The last batch's ids are among the dedup_events remembered, so redelivery applies nothing.
        redelivered = store.apply(tenant, events[-args.batch :])
        say(f"last batch redelivered: {redelivered} events applied again")

        rng = random.Random(2)
        latencies: list[float] = []
        sizes: list[int] = []
        for _ in range(args.requests):
            items = rng.choice(sessions[-20_000:])
            cut = rng.randint(1, len(items))
            session_items = list(reversed(items[:cut]))
            b = time.perf_counter()
            signals = store.signals(tenant, session_items, k=100)
            latencies.append(time.perf_counter() - b)
            sizes.append(len(signals.session_knn))
        say(
            f"redis signals(k=100): p50 {1000 * statistics.median(latencies):.2f} ms,"
            f" p99 {1000 * percentile(latencies, 0.99):.2f} ms over {args.requests} requests"
            f" (mean session_knn size {statistics.mean(sizes):.0f})"
        )
        t = time.perf_counter()
        usage = store.usage(tenant)
        say(f"redis usage ({time.perf_counter() - t:.1f}s): {usage}")
        say(f"redis bytes per event applied: {usage['bytes'] / len(events):.0f}")
    finally:
        store.delete_tenant(tenant)
        store.close()

    memory = MemoryItemStats(config)
    part = events[: args.memory_events]
    t = time.perf_counter()
    for start in range(0, len(part), args.batch):
        memory.apply(tenant, part[start : start + args.batch])
    elapsed = time.perf_counter() - t
    say(f"memory apply: {len(part) / elapsed:,.0f} events/s ({len(part):,} events in {elapsed:.1f}s)")
    latencies = []
    for _ in range(args.requests):
        items = rng.choice(sessions[: len(sessions) // 4])
        b = time.perf_counter()
        memory.signals(tenant, list(reversed(items)), k=100)
        latencies.append(time.perf_counter() - b)
    say(
        f"memory signals(k=100): p50 {1000 * statistics.median(latencies):.2f} ms,"
        f" p99 {1000 * percentile(latencies, 0.99):.2f} ms"
    )
    if not args.no_write:
        write_section(
            "Streaming item state (component level)",
            f"`python benchmarks/streaming_state.py --events {args.events} --items {args.items}`, {now()}. "
            f"Machine: {machine()}.\n\n"
            "A generated news-like stream (sessions of a few clicks on a catalog of items with short "
            "lives) applied to the Redis adapter in batches, as the stream processor does; signals() as "
            "the model server reads them for a session; Redis memory for the tenant; the in-memory "
            "reference adapter (training-time replays) beside it.\n\n```\n" + "\n".join(lines) + "\n```",
        )


if __name__ == "__main__":
    main()
