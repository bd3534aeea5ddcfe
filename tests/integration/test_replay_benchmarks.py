"""The replay benchmarks drive the real platform end to end on tiny subsets and print their
tables (the numbers are not checked here; ``docs/benchmarks.md`` has the full runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _replay(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--no-write"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stdout


def test_movielens_replay_serves_every_test_user_through_the_api(
    kafka_bootstrap: str, redis_url: str, mlflow_tracking_uri: str
) -> None:
    out = _replay("replay_movielens.py", "--users", "100")
    assert "| served: POST /v1/recommendations |" in out
    assert "| library, full history (same artifact) |" in out
    assert "| most-popular (library) |" in out
    assert "100 users served" in out


def test_news_replay_scores_the_platform_and_the_baselines_on_the_same_events(
    kafka_bootstrap: str, redis_url: str, mlflow_tracking_uri: str
) -> None:
    out = _replay(
        "replay_news.py", "--history-hours", "1", "--test-hours", "1", "--max-events", "200", "--quick"
    )
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.endswith("| 200 |")]
    assert [r.split(" | ")[0] for r in rows] == [
        "| served: POST /v1/recommendations",
        "| recent-popular (15 min)",
        "| next-item co-occurrence",
        "| V-SkNN (k=100, sample 500)",
    ], out


def test_mind_replay_reranks_impressions_through_the_api(
    kafka_bootstrap: str, redis_url: str, mlflow_tracking_uri: str
) -> None:
    out = _replay("replay_mind.py", "--impressions", "150", "--quick")
    assert "| served: POST /v1/rerank |" in out
    assert "| popularity (clicks so far) |" in out
