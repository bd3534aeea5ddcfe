"""Stopping the control plane during a local training run leaves no pipeline or kfp executor
process behind (finding 7 of issue 11): the real ``recsys_pipelines.local`` child is run and
cancelled as the control plane's shutdown does."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.runner import LocalPipelineRunner, PipelineFailed

from tests.integration.training.harness import TrainingEnv

pytestmark = pytest.mark.integration


def _group(pgid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_cancel_stops_the_pipeline_and_its_executors(tmp_path: Path) -> None:
    import random

    offline = tmp_path / "offline"
    OfflineEventStore(offline).append(
        "t1", TrainingEnv.events(random.Random(1), users=30, per_user=10), batch_id="seed"
    )
    runner = LocalPipelineRunner(tmp_path / "kfp", tmp_path / "work")
    arguments = {
        "tenant_id": "t1",
        "offline_root": str(offline),
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "training_run_id": "run-1",
        "database_url": "",
        "params_json": TrainingParams().model_dump_json(),
        "registry_prefix": "recsys-",
        "promotion_margin": 0.005,
    }
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run("run-1", arguments, lambda stage: None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    pgid = None
    while time.monotonic() < deadline:  # until a kfp executor runs beside the pipeline
        with runner._lock:
            running = list(runner._running)
        if running:
            pgid = running[0].pid
            if len(_group(pgid)) >= 2:
                break
        assert thread.is_alive(), f"the pipeline ended before it could be cancelled: {errors}"
        time.sleep(0.1)
    assert pgid is not None and len(_group(pgid)) >= 2, "no kfp executor process was seen"

    assert runner.cancel_all(grace_seconds=5) == 1
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], PipelineFailed), errors
    deadline = time.monotonic() + 10  # killed executors are reaped by init a moment later
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(pgid) == [], "pipeline or executor processes survived the cancel"
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
