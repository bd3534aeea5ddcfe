"""Recommendation latency: gateway end to end, the model server called directly, and a bare
FastAPI endpoint, measured side by side at fixed request rates in one run.

Starts, as their own processes: the KServe recommender model server (``python -m
recsys_model_servers``) serving a HybridRecommender trained on a generated tenant
(5,000 items, 2,000 users; ranker on), reading each user's real-time row from Feast
(Redis); the gateway (``recsys gateway``) routing to it through a ``default`` deployment;
and a bare FastAPI app that returns a fixed body of the same shape. For each rate, each
target gets the same open-loop schedule (requests sent on time whether or not earlier
ones finished), one after the other.

    python benchmarks/latency.py                       # 50,100,200,400 requests/s, 10 s each
    python benchmarks/latency.py --rates 100 --seconds 10 --no-write
    python benchmarks/latency.py --rates 50 --profile docs/profiles   # + py-spy flame graphs

CPU per request of each process (model server, gateway, bare app) is its CPU time over the
target's run (``psutil``: user + system) divided by the requests sent. With ``--profile DIR``
(py-spy installed) the first rate's model-server-direct and gateway runs are sampled by
``py-spy record`` into ``DIR/{model-server,gateway}.svg`` (flame graphs) and a per-stage
breakdown (``_profile_stages.py``).

Needs Kafka and Redis (``bash scripts/services/start.sh``). Writes a section to
docs/benchmarks.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _bench_tenant import bench_tenant  # noqa: E402
from _machine import machine, now, write_section  # noqa: E402
from _open_loop import open_loop  # noqa: E402
from freshness import free_port, percentile, process, service_env  # noqa: E402

TENANT = "latency-shop"
#: The blend a trained model carries (shape of what the pipeline tunes; the values do not matter
#: for latency): every signal read and blended per request.
STREAM_WEIGHTS = {
    "model": 1.0,
    "session_knn": 0.3,
    "covisit": 0.3,
    "next_item": 0.1,
    "trending_900": 0.1,
    "trending_3600": 0.1,
    "trending_21600": 0.1,
}
STREAM_NOTE = (
    " and reads the tenant's streaming item state (Redis: session-kNN over the user's last 10 "
    "items, co-visitation, next-item, three trending windows) and blends it with the model's list"
)
N_ITEMS, N_USERS, PER_USER = 5_000, 2_000, 20
BARE_APP = """
import sys
from fastapi import FastAPI
import uvicorn
app = FastAPI()
BODY = {"recommendation_id": "x", "items": [{"item_id": f"p{i:05d}", "score": 1.0 - i / 100,
        "reason": "popular now", "position": i + 1} for i in range(10)], "variant": None,
        "experiment": None, "model_version": "1", "fallback": False}
@app.post("/v1/recommendations")
async def recommend(body: dict) -> dict:
    return BODY
@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def synthetic_tenant(seed: int = 7) -> tuple[list[dict[str, Any]], list[tuple[str, str, float]]]:
    """A catalog of ``N_ITEMS`` items in 20 categories and ``N_USERS`` users' clicks."""
    rng = random.Random(seed)
    words = [f"w{k}" for k in range(400)]
    items = []
    for i in range(N_ITEMS):
        category = f"c{i % 20}"
        items.append(
            {
                "item_id": f"p{i:05d}",
                "title": " ".join(rng.sample(words, 6)),
                "category": category,
                "created_at": time.time() - rng.uniform(0, 90 * 86400),
            }
        )
    by_cat: dict[str, list[str]] = {}
    for it in items:
        by_cat.setdefault(it["category"], []).append(it["item_id"])
    t0 = time.time() - 30 * 86400
    clicks = []
    for u in range(N_USERS):
        fav = f"c{u % 20}"
        for _ in range(PER_USER):
            pool = by_cat[fav] if rng.random() < 0.8 else by_cat[f"c{rng.randrange(20)}"]
            k = min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)
            clicks.append((f"user-{u}", pool[k], t0 + rng.uniform(0, 30 * 86400)))
    return items, clicks


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far."""
    out = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        out[name] = times.user + times.system
    return out


def run_target(
    url: str,
    headers: dict[str, str],
    body_for: Any,
    rate: int,
    seconds: float,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Times ``rate`` requests/s for ``seconds`` to ``url``, open loop (``_open_loop``); with
    ``pids``, also each process's CPU ms per request over the run (``cpu_<name>``)."""
    total = int(rate * seconds)
    cpu_before = cpu_seconds(pids or {})
    dropped = [0] * 8
    #: A target that cannot keep up stops receiving after this: each rate stays short on a shared machine.
    deadline = time.perf_counter() + 2 * seconds + 5
    senders = 8
    latencies: list[float] = []
    errors = [0] * senders
    fallbacks = [0] * senders
    lock = threading.Lock()

    def send(client: httpx.Client, k: int, n: int) -> None:
        sent = time.perf_counter()
        if sent > deadline:  # an overloaded target: the rest is not sent (counted as dropped)
            dropped[k] += 1
            return
        try:
            response = client.post(url, json=body_for(n))
            ok = response.status_code == 200
            if ok and response.json().get("fallback") is True:
                fallbacks[k] += 1
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - sent
        if ok:
            with lock:
                latencies.append(elapsed * 1000)
        else:
            errors[k] += 1

    achieved = open_loop(total, rate, lambda: httpx.Client(headers=headers, timeout=5), send, senders)
    cpu_after = cpu_seconds(pids or {})
    answered = max(total - sum(dropped), 1)
    cpu = {f"cpu_{name}": (cpu_after[name] - cpu_before[name]) * 1000 / answered for name in cpu_after}
    return {
        **cpu,
        "requests": total,
        "achieved": achieved,
        "errors": sum(errors),
        "dropped": sum(dropped),
        "fallbacks": sum(fallbacks),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": percentile(latencies, 95) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
    }


#: Targets whose server process ``--profile`` samples, and the file stem of its profile.
PROFILED = {"model server direct (V1)": "model-server", "gateway end to end": "gateway"}


def py_spy(pid: int, stem: Path, seconds: float) -> Any:
    """``py-spy record`` of ``pid`` for ``seconds``: a flame graph ``<stem>.svg`` and the
    collapsed stacks ``<stem>.txt`` (for the per-stage table) from two samplers at once."""
    import subprocess

    stem.parent.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    common = ["record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100", "--nonblocking"]
    svg = subprocess.Popen([spy, *common, "--format", "flamegraph", "--output", f"{stem}.svg"])
    # the stage table counts only samples of the thread holding the GIL (Python CPU work, not a
    # thread blocked on a socket, which py-spy's idle filter does not always recognise)
    raw = subprocess.Popen([spy, *common, "--gil", "--format", "raw", "--output", f"{stem}.txt"])
    time.sleep(0.5)  # both attached before the load starts

    class _Both:
        def wait(self, timeout: float) -> None:
            svg.wait(timeout=timeout)
            raw.wait(timeout=timeout)

    return _Both()


def _revision(checkout: Path) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True)
    return done.stdout.decode().strip() or checkout.name


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,100,200,400", help="requests per second, comma-separated")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each rate and target (short: shared machine)"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="a checkout of earlier code: its model server runs the same model side by side (PYTHONPATH)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the first rate into this folder (SVG + stages)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="serve the model alone (no streaming item state read and blended per request)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="cache of the trained artifact: reused when it holds one, else the fit is saved there",
    )
    args = parser.parse_args()
    t = bench_tenant(service_env(), "latency", TENANT, "ecommerce", ["recommendations:read"])
    work, prefix, db_url, sessions, fs, key = t.work, t.prefix, t.db_url, t.sessions, t.features, t.key
    bootstrap, redis_url = t.bootstrap, t.redis_url

    import pandas as pd
    from recsys_platform.db.models import Deployment
    from recsys_platform.features.feast_store import FeastUserFeatureStore
    from recsys_platform.features.state import UserState
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridRecommender
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.wiring import item_stats_for

    items, clicks = synthetic_tenant()
    frame = pd.DataFrame(clicks, columns=["user_id", "item_id", "ts"])
    log = Interactions.from_frame(
        frame, user_col="user_id", item_col="item_id", value_col=None, timestamp_col="ts"
    )
    model_dir = work / "model"
    fit_started = time.perf_counter()
    if args.model_dir is not None and (args.model_dir / "model").is_dir():
        model_dir = args.model_dir / "model"  # the same generated tenant: reuse the artifact
    else:
        model = HybridRecommender.fit(log, catalog_frame(items))
        if args.model_dir is not None:
            model_dir = args.model_dir / "model"
        save_model(model, model_dir)
    fit_seconds = time.perf_counter() - fit_started
    plain_dir = model_dir
    if not args.no_stream:  # the model blends the streaming signals, as trained models do
        from recsys_platform.recommenders.artifact import load_model

        served = load_model(model_dir)
        served.config.stream_weights = STREAM_WEIGHTS
        model_dir = work / "model-stream"
        save_model(served, model_dir)
    # every user's real-time row and the tenant's item state, as the stream processor writes them
    recent: dict[str, list[str]] = {}
    for user, item, _ in sorted(clicks, key=lambda c: -c[2]):
        recent.setdefault(user, []).append(item)
    FeastUserFeatureStore(fs).write(
        TENANT,
        [
            UserState(
                user_id=u,
                recent_items=tuple(r),
                recent_weights=(1.0,) * len(r),
                session_items=tuple(r[:10]),
                event_count=len(r),
                last_event_ms=1,
            )
            for u, r in recent.items()
        ],
    )
    stats = item_stats_for(fs)
    ordered = sorted(clicks, key=lambda c: c[2])
    for start in range(0, len(ordered), 1000):
        stats.apply(
            TENANT,
            [
                ItemEvent(f"b{start + k}", u, i, int(ts * 1000), None)
                for k, (u, i, ts) in enumerate(ordered[start : start + 1000])
            ],
        )

    ms_port, gw_port, bare_port, plain_port = free_port(), free_port(), free_port(), free_port()
    common = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    ms_env = {
        **common,
        "RECSYS_MODEL_SERVER_FEATURE_STORE__ONLINE_STORE": "redis",
        "RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL": redis_url,
        "RECSYS_MODEL_SERVER_FEATURE_STORE__REGISTRY": str(fs.registry),
        "RECSYS_MODEL_SERVER_FEATURE_STORE__SQLITE_DIR": str(fs.sqlite_dir),
        "RECSYS_MODEL_SERVER_FEATURE_STORE__OFFLINE_ROOT": str(fs.offline_root),
        "RECSYS_MODEL_SERVER_TELEMETRY__LOG_LEVEL": "WARNING",
    }
    gw_env = {
        **common,
        "RECSYS_GATEWAY_PORT": str(gw_port),
        "RECSYS_GATEWAY_DATABASE__URL": db_url,
        "RECSYS_GATEWAY_EVENT_LOG__BACKEND": "kafka",
        "RECSYS_GATEWAY_EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "RECSYS_GATEWAY_EVENT_LOG__KAFKA__TOPIC_PREFIX": prefix,
        "RECSYS_GATEWAY_REDIS_URL": redis_url,
        "RECSYS_GATEWAY_TELEMETRY__LOG_LEVEL": "WARNING",
    }
    with sessions.begin() as s:
        s.add(
            Deployment(
                id=uuid.uuid4().hex,
                tenant_id=TENANT,
                name="default",
                mode="local",
                status="ready",
                endpoint=f"http://127.0.0.1:{ms_port}",
                resolved_version="1",
            )
        )

    def model_server(folder: Path, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "recsys_model_servers",
            "--name",
            "default",
            "--model-uri",
            str(folder),
            "--tenant-id",
            TENANT,
            "--http-port",
            str(port),
        ]

    plain = (
        process(
            model_server(plain_dir, plain_port),
            ms_env,
            f"http://127.0.0.1:{plain_port}/v2/health/ready",
            work / "model-plain.log",
        )
        if not args.no_stream
        else contextlib.nullcontext()
    )
    baseline_port = free_port()
    baseline = (
        process(
            model_server(model_dir, baseline_port),
            {
                **ms_env,
                "PYTHONPATH": f"{args.baseline_src / 'platform'}:{args.baseline_src / 'model_servers'}",
            },
            f"http://127.0.0.1:{baseline_port}/v2/health/ready",
            work / "model-baseline.log",
        )
        if args.baseline_src is not None
        else contextlib.nullcontext()
    )
    recsys = str(Path(sys.executable).parent / "recsys")
    rates = [int(r) for r in args.rates.split(",")]
    rows = []
    with (
        process(
            model_server(model_dir, ms_port),
            ms_env,
            f"http://127.0.0.1:{ms_port}/v2/health/ready",
            work / "model.log",
        ) as ms_proc,
        plain as plain_proc,
        baseline as baseline_proc,
        process(
            [recsys, "gateway"], gw_env, f"http://127.0.0.1:{gw_port}/readyz", work / "gateway.log"
        ) as gw_proc,
        process(
            [sys.executable, "-c", BARE_APP, str(bare_port)],
            common,
            f"http://127.0.0.1:{bare_port}/healthz",
            work / "bare.log",
        ) as bare_proc,
    ):
        users = [f"user-{u}" for u in range(N_USERS)]
        targets: dict[str, tuple[str, dict[str, str], Any, dict[str, int]]] = {
            "bare FastAPI endpoint": (
                f"http://127.0.0.1:{bare_port}/v1/recommendations",
                {},
                lambda n: {"user_id": users[n % N_USERS], "n": 10},
                {"server": bare_proc.pid},
            ),
            "model server direct (V1)": (
                f"http://127.0.0.1:{ms_port}/v1/models/default:predict",
                {},
                lambda n: {"instances": [{"user_id": users[n % N_USERS], "n": 10}]},
                {"server": ms_proc.pid},
            ),
            "gateway end to end": (
                f"http://127.0.0.1:{gw_port}/v1/recommendations",
                {"Authorization": f"Bearer {key}"},
                lambda n: {"user_id": users[n % N_USERS], "n": 10},
                {"server": gw_proc.pid, "model_server": ms_proc.pid},
            ),
        }
        if plain_proc is not None:  # the same model without the streaming blend, side by side
            targets["model server direct, model alone (V1)"] = (
                f"http://127.0.0.1:{plain_port}/v1/models/default:predict",
                {},
                lambda n: {"instances": [{"user_id": users[n % N_USERS], "n": 10}]},
                {"server": plain_proc.pid},
            )
        if baseline_proc is not None:  # the same model on the earlier code, side by side
            targets["model server direct, baseline code (V1)"] = (
                f"http://127.0.0.1:{baseline_port}/v1/models/default:predict",
                {},
                lambda n: {"instances": [{"user_id": users[n % N_USERS], "n": 10}]},
                {"server": baseline_proc.pid},
            )
        for url, headers, body, _ in targets.values():  # warm up connections and caches
            run_target(url, headers, body, 50, 2)
        profiled: dict[str, dict[str, float]] = {}
        for rate in rates:
            for name, (url, headers, body, pids) in targets.items():
                spy = None
                if args.profile is not None and rate == rates[0] and name in PROFILED:
                    spy = py_spy(pids["server"], args.profile / PROFILED[name], args.seconds)
                result = run_target(url, headers, body, rate, args.seconds, pids)
                if spy is not None:
                    spy.wait(timeout=60)
                    profiled[PROFILED[name]] = result
                rows.append({"rate": rate, "target": name, **result})
                print(
                    f"{rate:>4}/s {name:<26} p50 {result['p50']:6.2f} ms  p95 {result['p95']:6.2f}  "
                    f"p99 {result['p99']:6.2f}  errors {result['errors']}  fallbacks {result['fallbacks']}  "
                    f"CPU ms/req {result['cpu_server']:.2f}",
                    flush=True,
                )
    stats.delete_tenant(TENANT)
    stats.close()
    t.delete()  # topics, Feast project and the users' rows in the shared Redis

    table = [
        "| rate/s | target | achieved/s | requests | errors | not sent | fallbacks "
        "| p50 ms | p95 ms | p99 ms "
        "| p50 / bare | p99 / bare | CPU ms/request (its process) | model-server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bare = next(b for b in rows if b["rate"] == r["rate"] and b["target"] == "bare FastAPI endpoint")
        ms_cpu = f"{r['cpu_model_server']:.2f}" if "cpu_model_server" in r else ""
        table.append(
            f"| {r['rate']} | {r['target']} | {r['achieved']:.0f} | {r['requests']} | {r['errors']} | "
            f"{r['dropped']} | "
            f"{r['fallbacks']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | "
            f"{r['p50'] / bare['p50']:.1f} | {r['p99'] / bare['p99']:.1f} | "
            f"{r['cpu_server']:.2f} | {ms_cpu} |"
        )
    overhead = [
        "",
        "| rate/s | gateway - model server, p50 ms | gateway / model server, p99 |",
        "|---|---|---|",
    ]
    for rate in rates:
        by = {r["target"]: r for r in rows if r["rate"] == rate}
        gw, ms = by["gateway end to end"], by["model server direct (V1)"]
        overhead.append(f"| {rate} | {gw['p50'] - ms['p50']:.2f} | {gw['p99'] / ms['p99']:.2f} |")
    if profiled:
        from _profile_stages import GATEWAY_STAGES, MODEL_SERVER_STAGES
        from _profile_stages import table as stage_table

        assert args.profile is not None
        overhead += ["", f"py-spy (`--profile`, {rates[0]}/s, {args.seconds:g} s per target):", ""]
        for stem, stages in (("model-server", MODEL_SERVER_STAGES), ("gateway", GATEWAY_STAGES)):
            if stem in profiled and (args.profile / f"{stem}.txt").exists():
                cpu = profiled[stem]["cpu_server"]
                overhead += [stage_table(stem, args.profile / f"{stem}.txt", stages, cpu), ""]
    summary = "\n".join(table + overhead)
    print(summary)
    if not args.no_write:
        body = (
            f"`python benchmarks/latency.py --rates {args.rates} --seconds {args.seconds:g}`, {now()}. "
            f"Machine: {machine()}.\n\n"
            f"Generated tenant: {N_ITEMS:,} items in 20 categories, {N_USERS:,} users x {PER_USER} clicks; "
            f"HybridRecommender with its defaults (fit {fit_seconds:.1f} s). Each model-server request "
            "reads the user's row from Feast (Redis), gathers candidates, ranks and re-ranks a top-10"
            + ("" if args.no_stream else STREAM_NOTE)
            + (" (streaming off: --no-stream). " if args.no_stream else ". ")
            + "The gateway adds key -> tenant, rate limit, experiment assignment, the call over a "
            "keep-alive pool and the impression produced to Kafka. Open loop, 8 client threads in "
            f"the benchmark process, all on the same 2 cores as the servers, {args.seconds:g} s per rate "
            "and target (kept short: the machine is shared). CPU ms/request: the target process's user + "
            "system CPU over the run (psutil) divided by the requests sent; for the gateway also the model "
            "server's. "
            + (
                "The baseline target is the same model served by the code of an earlier checkout "
                f"(`--baseline-src`, commit {_revision(args.baseline_src)}). "
                if args.baseline_src is not None
                else ""
            )
            + "Targets (issue 13): p99 <= 25 ms at 100/s and <= 50 ms at 200/s end to end with no "
            "fallback; CPU per request <= 3 ms in the model server and <= 1.5 ms in the gateway.\n\n"
            + summary
        )
        write_section("Latency: recommendations", body)


if __name__ == "__main__":
    main()
