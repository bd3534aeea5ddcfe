"""Helpers of the model-server integration tests: a generated data set, real artifacts, and a
real ``python -m recsys_model_servers`` subprocess on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]
TOPICS = ("sports", "tech", "food", "travel")
ITEMS_PER_TOPIC = 25
#: The items never read by anyone, per topic: only content similarity can find them.
NEW_ITEMS = 3
START_TIMEOUT = 120.0
NOW = 1_700_000_000.0


def catalog_records() -> list[dict[str, Any]]:
    """Catalog records: topic words in the text, the topic as category, item 3 unavailable."""
    words = {
        "sports": "football striker goal league match coach",
        "tech": "chip smartphone software laptop processor cloud",
        "food": "recipe pasta tomato basil stew oven",
        "travel": "beach flight hotel island passport cruise",
    }
    return [
        {
            "item_id": f"{topic}-{i}",
            "title": f"{topic.title()} story {i}",
            "text": f"{words[topic]} {topic} number {i}",
            "categories": [topic],
            "created_at": NOW - (ITEMS_PER_TOPIC - i) * 86400.0,
            "available": i != 3,
        }
        for topic in TOPICS
        for i in range(ITEMS_PER_TOPIC + NEW_ITEMS)
    ]


def fit_and_save(directory: Path, seed: int = 5, reason_tag: str = "") -> Path:
    """Fit a HybridRecommender on a generated log (users read one topic each) and save it."""
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.config import HybridConfig, RankerConfig
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridRecommender

    rng = np.random.default_rng(seed)
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    t = NOW - 30 * 86400
    for topic in TOPICS:
        for u in range(30):
            for i in rng.choice(ITEMS_PER_TOPIC, size=8, replace=False):
                users.append(f"{topic}-user-{u}")
                items.append(f"{topic}-{i}")
                t += 60
                times.append(t)
    log = Interactions(np.asarray(users), np.asarray(items), np.ones(len(users)), np.asarray(times))
    config = HybridConfig(
        cold_start_threshold=2, ranker=RankerConfig(enabled=False), seed=seed
    ).with_generator("als", factors=8, iterations=3)
    model = HybridRecommender.fit(log, catalog_frame(catalog_records()), config, now=NOW)
    save_model(model, directory)
    return directory


class ServerProcess:
    """A running model server: its base URL, log file and process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, name: str) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.name = name
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def predict(self, client: httpx.Client, *instances: dict[str, Any], **kw: Any) -> httpx.Response:
        return client.post(
            f"{self.url}/v1/models/{self.name}:predict", json={"instances": list(instances)}, **kw
        )


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess: the checkout's packages, quiet BLAS, no secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_MODEL_SERVER_")}
    paths = [str(ROOT / p) for p in ("platform", "pipelines", "model_servers")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(
        {
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(tmp),
            "RECSYS_MODEL_SERVER_TELEMETRY__LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


@contextmanager
def model_server(args: list[str], env: dict[str, str], log: Path, name: str) -> Iterator[ServerProcess]:
    """Start ``python -m recsys_model_servers ARGS`` and wait for ``/v2/models/<name>/ready``."""
    port = free_port()
    cmd = [sys.executable, "-m", "recsys_model_servers", "--name", name, "--port", str(port), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, log, name)
    try:
        _wait_ready(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"model server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            r = httpx.get(f"{server.url}/v2/models/{server.name}/ready", timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(f"model server not ready in {START_TIMEOUT:.0f} s (last: {last}):\n{server.log_tail()}")


#: A fixed "now" for the demo model: its events end here (the demo catalog is from November 2026).
DEMO_NOW = 1_796_000_000.0  # 2026-11-29


def fit_demo_model(directory: Path, use_case: str = "news", cold_start_threshold: int = 0) -> Path:
    """Fit a HybridRecommender on a committed demo catalog and its generated click history
    (what ``recsys up`` trains for the example tenant of that use case) and save it.

    ``cold_start_threshold`` 0 is a value the pipeline's tuning can pick (the warm recipe for
    everyone): the case where an unknown user must still be reported as cold start.
    """
    from datetime import UTC, datetime

    from recsys_platform.demo import demo_items
    from recsys_platform.demo.events import demo_events
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.catalog_frame import catalog_frame
    from recsys_platform.recommenders.config import HybridConfig, RankerConfig
    from recsys_platform.recommenders.data import Interactions
    from recsys_platform.recommenders.hybrid import HybridRecommender

    items = demo_items(use_case)
    events = demo_events(items, now=datetime.fromtimestamp(DEMO_NOW, UTC))
    log = Interactions(
        np.asarray([e["user_id"] for e in events]),
        np.asarray([e["item_id"] for e in events]),
        np.ones(len(events)),
        np.asarray([datetime.fromisoformat(e["timestamp"]).timestamp() for e in events]),
    )
    records = [{**item, "created_at": item.get("published_at")} for item in items]
    config = HybridConfig(
        cold_start_threshold=cold_start_threshold, ranker=RankerConfig(enabled=False), seed=7
    ).with_generator("als", factors=8, iterations=3)
    model = HybridRecommender.fit(log, catalog_frame(records), config, now=DEMO_NOW)
    save_model(model, directory)
    return directory
