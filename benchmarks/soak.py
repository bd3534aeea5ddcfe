"""Soak and faults: events and recommendations through the real services for a while, with
Kafka, Redis and the model server each killed and restarted once.

Starts a Kafka broker and a Redis of their own (``scripts/services/start.sh`` in a temporary
state folder, so the shared ones are not touched), onboards a tenant, fits a model on a
generated tenant and starts, as their own processes, the model server, the gateway
(``recsys gateway``) and the stream processor (``recsys stream``). Then, for ``--seconds``:
10 batches of 10 events per second and ``--recs-rate`` recommendation requests per second,
sent on a fixed schedule through the gateway. At 20 % of the run Kafka is stopped and
started again 10 s later; at 45 % Redis; at 70 % the model server is killed (SIGKILL) and
started again 5 s later. Reported: events accepted (200) and lost (accepted but never in
the offline store after a drain: must be 0), failed requests by status, recovery time of
each fault (from the restart to the next success of the path it broke), and the resident
memory of each process over the run.

    python benchmarks/soak.py --seconds 300               # 5 minutes
    python benchmarks/soak.py --seconds 60 --no-write     # a smoke run

Writes a section to docs/benchmarks.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from _bench_tenant import bench_tenant  # noqa: E402
from _machine import machine, now, write_section  # noqa: E402
from freshness import free_port, process  # noqa: E402

from tests.services import DedicatedService  # noqa: E402

TENANT = "soak-shop"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Load:
    """Events and recommendations on a fixed schedule; records every outcome with its time."""

    def __init__(self, gateway: str, key: str, users: list[str], recs_rate: float) -> None:
        self.gateway, self.users, self.recs_rate = gateway, users, recs_rate
        self.headers = {"Authorization": f"Bearer {key}"}
        self.accepted: set[str] = set()
        self.outcomes: list[tuple[float, str, str]] = []  # (time, path, outcome)
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _record(self, path: str, outcome: str) -> None:
        with self._lock:
            self.outcomes.append((time.monotonic(), path, outcome))

    def events(self) -> None:
        n, start = 0, time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                batch = [
                    {
                        "event_id": f"soak-{n}-{i}",
                        "user_id": self.users[(n * 10 + i) % len(self.users)],
                        "item_id": f"p{(n * 7 + i) % 500:05d}",
                        "type": "click",
                        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                    for i in range(10)
                ]
                try:
                    r = client.post(f"{self.gateway}/v1/events", json={"events": batch}, headers=self.headers)
                    if r.status_code == 200:
                        with self._lock:
                            self.accepted.update(x["event_id"] for x in r.json()["results"])
                    self._record("events", str(r.status_code))
                except httpx.HTTPError as exc:
                    self._record("events", type(exc).__name__)
                n += 1
                self.stop.wait(max(0.0, start + n * 0.1 - time.monotonic()))

    def recs(self, worker: int, workers: int) -> None:
        n, start, interval = 0, time.monotonic(), workers / self.recs_rate
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                user = self.users[(n * workers + worker) % len(self.users)]
                try:
                    r = client.post(
                        f"{self.gateway}/v1/recommendations",
                        json={"user_id": user, "n": 10},
                        headers=self.headers,
                    )
                    outcome = str(r.status_code)
                    if r.status_code == 200 and r.json().get("fallback"):
                        outcome = "200 fallback"
                    self._record("recs", outcome)
                except httpx.HTTPError as exc:
                    self._record("recs", type(exc).__name__)
                n += 1
                self.stop.wait(max(0.0, start + n * interval - time.monotonic()))

    def first_success_after(self, path: str, t: float, ok: str = "200") -> float | None:
        with self._lock:
            times = [at for at, p, o in self.outcomes if p == path and o == ok and at >= t]
        return min(times) - t if times else None


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--recs-rate", type=float, default=50.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="recsys-soak-"))
    kafka, redis_ = DedicatedService("kafka", state / "kafka"), DedicatedService("redis", state / "redis")
    kafka.start()
    redis_.start()
    try:
        run(args, kafka, redis_)
    finally:
        kafka.stop()
        redis_.stop()


def run(args: Any, kafka: DedicatedService, redis_: DedicatedService) -> None:  # noqa: PLR0915
    import pandas as pd
    from latency import synthetic_tenant
    from recsys_platform.db.models import Deployment
    from recsys_platform.offline.parquet_store import OfflineEventStore
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridRecommender

    services = {"RECSYS_TEST_KAFKA_BOOTSTRAP": kafka.address, "RECSYS_TEST_REDIS_URL": redis_.redis_url}
    t = bench_tenant(services, "soak", TENANT, "ecommerce", ["recommendations:read", "events:write"])
    items, clicks = synthetic_tenant()
    frame = pd.DataFrame(clicks[:20_000], columns=["user_id", "item_id", "ts"])
    log = Interactions.from_frame(
        frame, user_col="user_id", item_col="item_id", value_col=None, timestamp_col="ts"
    )
    model_dir = t.work / "model"
    save_model(HybridRecommender.fit(log, catalog_frame(items)), model_dir)
    users = sorted(set(frame["user_id"]))[:500]

    ms_port, gw_port, st_port = free_port(), free_port(), free_port()
    common = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    fs = t.features
    ms_env = {
        **common,
        "RECSYS_MODEL_SERVER_FEATURE_STORE__ONLINE_STORE": "redis",
        "RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL": t.redis_url,
        "RECSYS_MODEL_SERVER_FEATURE_STORE__REGISTRY": str(fs.registry),
        "RECSYS_MODEL_SERVER_FEATURE_STORE__SQLITE_DIR": str(fs.sqlite_dir),
        "RECSYS_MODEL_SERVER_FEATURE_STORE__OFFLINE_ROOT": str(fs.offline_root),
        "RECSYS_MODEL_SERVER_TELEMETRY__LOG_LEVEL": "WARNING",
    }
    gw_env = {
        **common,
        "RECSYS_GATEWAY_PORT": str(gw_port),
        "RECSYS_GATEWAY_DATABASE__URL": t.db_url,
        "RECSYS_GATEWAY_EVENT_LOG__BACKEND": "kafka",
        "RECSYS_GATEWAY_EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS": t.bootstrap,
        "RECSYS_GATEWAY_EVENT_LOG__KAFKA__TOPIC_PREFIX": t.prefix,
        "RECSYS_GATEWAY_REDIS_URL": t.redis_url,
        "RECSYS_GATEWAY_TELEMETRY__LOG_LEVEL": "WARNING",
    }
    st_env = {
        **common,
        "RECSYS_STREAM_DATABASE__URL": t.db_url,
        "RECSYS_STREAM_EVENT_LOG__BACKEND": "kafka",
        "RECSYS_STREAM_EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS": t.bootstrap,
        "RECSYS_STREAM_EVENT_LOG__KAFKA__TOPIC_PREFIX": t.prefix,
        "RECSYS_STREAM_FEATURE_STORE__ONLINE_STORE": "redis",
        "RECSYS_STREAM_FEATURE_STORE__REDIS_URL": t.redis_url,
        "RECSYS_STREAM_FEATURE_STORE__REGISTRY": str(fs.registry),
        "RECSYS_STREAM_FEATURE_STORE__SQLITE_DIR": str(fs.sqlite_dir),
        "RECSYS_STREAM_FEATURE_STORE__OFFLINE_ROOT": str(fs.offline_root),
        "RECSYS_STREAM_METRICS_PORT": str(st_port),
        "RECSYS_STREAM_TELEMETRY__LOG_LEVEL": "WARNING",
    }
    with t.sessions.begin() as s:
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
    ms_cmd = [
        sys.executable,
        "-m",
        "recsys_model_servers",
        "--name",
        "default",
        "--model-uri",
        str(model_dir),
    ]
    ms_cmd += ["--tenant-id", TENANT, "--http-port", str(ms_port)]
    recsys = str(Path(sys.executable).parent / "recsys")
    ms_ready = f"http://127.0.0.1:{ms_port}/v2/health/ready"
    memory: dict[str, list[float]] = {"model server": [], "gateway": [], "stream processor": []}
    faults: list[tuple[str, float, float]] = []  # (what, down for, restarted at)
    with (
        process(
            [recsys, "gateway"], gw_env, f"http://127.0.0.1:{gw_port}/readyz", t.work / "gateway.log"
        ) as gw,
        process(
            [recsys, "stream"], st_env, f"http://127.0.0.1:{st_port}/healthz", t.work / "stream.log"
        ) as st,
    ):
        model = subprocess.Popen(
            ms_cmd, env=ms_env, stdout=(t.work / "model.log").open("wb"), stderr=subprocess.STDOUT
        )
        _wait(ms_ready, 120)
        load = Load(f"http://127.0.0.1:{gw_port}", t.key, users, args.recs_rate)
        workers = 4
        threads = [threading.Thread(target=load.events, daemon=True)]
        threads += [
            threading.Thread(target=load.recs, args=(w, workers), daemon=True) for w in range(workers)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        plan = [(0.2, "kafka"), (0.45, "redis"), (0.7, "model server")]
        while time.monotonic() - started < args.seconds:
            elapsed = time.monotonic() - started
            memory["gateway"].append(rss_mb(gw.pid))
            memory["stream processor"].append(rss_mb(st.pid))
            memory["model server"].append(rss_mb(model.pid))
            if plan and elapsed >= plan[0][0] * args.seconds:
                _, what = plan.pop(0)
                down = time.monotonic()
                if what == "kafka":
                    kafka.stop()
                    time.sleep(10)
                    kafka.start()
                elif what == "redis":
                    redis_.stop()
                    time.sleep(10)
                    redis_.start()
                else:
                    model.send_signal(signal.SIGKILL)
                    model.wait()
                    time.sleep(5)
                    model = subprocess.Popen(
                        ms_cmd, env=ms_env, stdout=(t.work / "model.log").open("ab"), stderr=subprocess.STDOUT
                    )
                restarted = time.monotonic()
                faults.append((what, restarted - down, restarted))
                print(f"{what}: restarted after {restarted - down:.1f} s", flush=True)
            time.sleep(5)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        # recovery: from each restart to the next success of the events and the recs paths
        recovered = [
            (what, downtime, load.first_success_after("events", at), load.first_success_after("recs", at))
            for what, downtime, at in faults
        ]
        # drain: every accepted event must reach the offline store
        offline = OfflineEventStore(fs.offline_root)
        deadline = time.monotonic() + 180
        stored: set[str] = set()
        while time.monotonic() < deadline:
            stored = set(offline.read(TENANT).column("event_id").to_pylist())
            if load.accepted <= stored:
                break
            time.sleep(2)
        lost = len(load.accepted - stored)
        model.send_signal(signal.SIGTERM)
        model.wait(timeout=30)
    counts = Counter((p, o) for _, p, o in load.outcomes)
    span = max(1e-9, max((at for at, _, _ in load.outcomes), default=started) - started)
    sent_events = 10 * sum(n for (p, _), n in counts.items() if p == "events")
    sent_recs = sum(n for (p, _), n in counts.items() if p == "recs")
    print(f"accepted {len(load.accepted)} events, lost {lost}; outcomes {dict(counts)}")
    for row in recovered:
        print(row)
    for name, series in memory.items():
        print(name, [round(x) for x in series])
    if args.no_write:
        return
    lines = [
        f"Run {now()} on {machine()}; {args.seconds:.0f} s (a short run, not the 30 minutes of the goal) "
        f"at 100 events/s (10 batches of 10) and {args.recs_rate:.0f} recommendations/s through the gateway, "
        "Kafka and Redis of their own, the model server, gateway and stream processor as processes.",
        "",
        f"* Achieved: {sent_events / span:.0f} events/s and {sent_recs / span:.1f} recommendations/s "
        f"over {span:.0f} s (the senders wait for each answer, so a slow or stalled path sends less).",
        f"* Events accepted (200): **{len(load.accepted)}**; accepted but not in the offline store after "
        f"the drain (lost): **{lost}**.",
        "* Requests by path and outcome: "
        + ", ".join(f"{p} {o}: {n}" for (p, o), n in sorted(counts.items())),
        "",
        "| fault | down for (s) | events back after restart (s) | recommendations (200) back after (s) |",
        "|---|---|---|---|",
    ]
    for what, downtime, ev, rec in recovered:
        lines.append(f"| {what} | {downtime:.1f} | {_fmt(ev)} | {_fmt(rec)} |")
    lines += ["", "| process | RSS start (MB) | RSS max (MB) | RSS end (MB) |", "|---|---|---|---|"]
    for name, series in memory.items():
        clean = [x for x in series if x == x]
        if clean:
            lines.append(f"| {name} | {clean[0]:.0f} | {max(clean):.0f} | {clean[-1]:.0f} |")
    write_section("Soak and faults", "\n".join(lines))


def _fmt(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "never"


def _wait(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


if __name__ == "__main__":
    main()
