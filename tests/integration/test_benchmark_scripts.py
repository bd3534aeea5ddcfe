"""The benchmark scripts keep working (a few seconds each; the numbers are not checked here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_freshness_benchmark_runs_and_sees_every_event(kafka_bootstrap: str, redis_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "freshness.py"),
            "--rates",
            "20",
            "--seconds",
            "2",
            "--no-write",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    assert "0 errors, 0 never visible" in line, line


def test_movielens_quality_benchmark_runs_on_a_subset() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality_movielens.py"), "--users", "100", "--no-write"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| HybridRecommender (pipeline model), full history | this run |" in result.stdout
    assert "Hybrid recommend() median latency" in result.stdout


def test_latency_benchmark_runs_and_answers_every_request(kafka_bootstrap: str, redis_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "latency.py"),
            "--rates",
            "20",
            "--seconds",
            "2",
            "--no-write",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.lstrip().startswith("20/s ")]
    # bare endpoint, model server direct (streaming blend), gateway, model server with the model alone
    assert len(lines) == 4, result.stdout
    assert all("errors 0" in line for line in lines), lines
