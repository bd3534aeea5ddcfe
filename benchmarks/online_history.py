"""What a longer online history costs: Feast (Redis) read latency and Redis memory per user.

Writes users' rows with histories of 50 (the old cap), 200 and 1,000 items (the default
``history_items``) into one tenant's Feast online store on the real Redis, then reads them
back the way the model server does (one ``get_online_features`` per request), the lengths
interleaved so the machine's noise hits them alike. Redis memory per user is ``MEMORY USAGE``
of each user's hash.

    python benchmarks/online_history.py            # 300 users and 2,000 reads per length
    python benchmarks/online_history.py --reads 200 --no-write

Needs Kafka and Redis (``bash scripts/services/start.sh``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _bench_tenant import bench_tenant  # noqa: E402
from _machine import machine, now, write_section  # noqa: E402
from freshness import percentile, service_env  # noqa: E402

TENANT = "history-cost"
LENGTHS = (50, 200, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300, help="users per history length")
    parser.add_argument("--reads", type=int, default=2000, help="reads per history length")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    t = bench_tenant(service_env(), "history", TENANT, "ecommerce", ["recommendations:read"])

    import redis
    from recsys_platform.features.feast_repo import project_name
    from recsys_platform.features.feast_store import FeastUserFeatureStore
    from recsys_platform.features.state import UserState

    store = FeastUserFeatureStore(t.features)
    client = redis.Redis.from_url(t.redis_url)
    project = project_name(TENANT).encode()

    def project_keys() -> set[bytes]:
        return {k for k in client.scan_iter(count=1000) if project in k}

    rng = random.Random(5)
    t0 = 1_700_000_000_000
    memory: dict[int, list[int]] = {}
    for n in LENGTHS:
        before = project_keys()
        states = [
            UserState(
                user_id=f"u{n}-{u}",
                recent_items=tuple(f"item-{rng.randrange(50_000):05d}-{k}" for k in range(n)),
                recent_weights=tuple(float(rng.randint(1, 5)) for _ in range(n)),
                recent_times_ms=tuple(t0 - k * 60_000 for k in range(n)),
                session_items=tuple(f"item-{k}" for k in range(min(n, 10))),
                event_count=n,
                last_event_ms=t0,
            )
            for u in range(args.users)
        ]
        for start in range(0, len(states), 100):
            store.write(TENANT, states[start : start + 100])
        # every field of the user's hash (MEMORY USAGE samples 5 fields unless told otherwise)
        memory[n] = [client.memory_usage(k, samples=0) or 0 for k in project_keys() - before]
    latencies: dict[int, list[float]] = {n: [] for n in LENGTHS}
    for _ in range(3):  # warm the store (registry, connection)
        store.read(TENANT, "u50-0")
    for k in range(args.reads):
        for n in LENGTHS:
            user = f"u{n}-{k % args.users}"
            started = time.perf_counter()
            state = store.read(TENANT, user)
            latencies[n].append((time.perf_counter() - started) * 1000)
            assert state is not None and len(state.recent_items) == n
    store.close()
    t.delete()

    table = [
        "| history items | read p50 ms | read p99 ms | Redis bytes per user (median) |",
        "|---|---|---|---|",
    ]
    for n in LENGTHS:
        size = f"{statistics.median(memory[n]):,.0f}" if memory[n] else "n/a"
        p50, p99 = statistics.median(latencies[n]), percentile(latencies[n], 99)
        table.append(f"| {n:,} | {p50:.2f} | {p99:.2f} | {size} |")
    summary = "\n".join(table)
    print(summary)
    if not args.no_write:
        body = (
            f"`python benchmarks/online_history.py --users {args.users} --reads {args.reads}`, {now()}. "
            f"Machine: {machine()}.\n\n"
            "One user's online row (Feast `get_online_features`, real Redis) with a history of each "
            "length (item id ~18 bytes, weight, event time), read as the model server reads it, the "
            "lengths interleaved; memory is Redis `MEMORY USAGE` of the user's hash. 50 was the cap "
            "before ADR 0004, 1,000 is the default `history_items` now.\n\n" + summary
        )
        write_section("Online history: read latency and memory per user", body)


if __name__ == "__main__":
    main()
