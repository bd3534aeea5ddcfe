"""Pipeline runners behind one port: ``kfp.local`` in-process, or Kubeflow Pipelines via kfp.Client."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recsys_platform.training.progress import STAGES, read_status

log = logging.getLogger(__name__)
StageCallback = Callable[[str], None]
#: Task display names of the pipeline -> stage names.
TASK_STAGES = {"load data": "load_data", "train": "train", "evaluate": "evaluate", "register": "register"}


class PipelineFailed(Exception):
    """A pipeline run failed; ``stage`` is the failing step (if known), ``reason`` its message."""

    def __init__(self, reason: str, stage: str | None = None, pipeline_run_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.pipeline_run_id = pipeline_run_id


@dataclass(frozen=True)
class PipelineOutcome:
    """A finished run: its id on the runner and the register step's result (``None`` if unknown)."""

    pipeline_run_id: str
    result: dict[str, Any] | None


class PipelineRunner(Protocol):
    """Runs one training pipeline to completion, reporting stages as they start."""

    def run(self, run_id: str, arguments: dict[str, Any], on_stage: StageCallback) -> PipelineOutcome: ...


class LocalPipelineRunner:
    """``kfp.local`` SubprocessRunner; stages come from the steps' status files."""

    def __init__(self, pipeline_root: str | Path, work_dir: str | Path, poll_seconds: float = 0.2) -> None:
        self.pipeline_root = Path(pipeline_root).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()

    def cancel_all(self, grace_seconds: float = 5.0) -> int:
        """Stop every running pipeline with its kfp executor processes (SIGTERM to the process
        group, SIGKILL after ``grace_seconds``); returns how many were running."""
        with self._lock:
            running = list(self._running)
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # executors left after the pipeline exited too
        return len(running)

    def run(self, run_id: str, arguments: dict[str, Any], on_stage: StageCallback) -> PipelineOutcome:
        status_dir = self.work_dir / "status" / run_id
        root = self.pipeline_root / run_id
        run_dir = self.work_dir / "runs" / run_id
        shutil.rmtree(status_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "arguments.json").write_text(json.dumps({**arguments, "status_dir": str(status_dir)}))
        result_file = run_dir / "result.json"
        log_file = run_dir / "pipeline.log"
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch,
            args=(status_dir, on_stage, done),
            name=f"training-stages-{run_id}",
            daemon=True,
        )
        watcher.start()
        try:
            # kfp.local re-configures logging and print() of its process: keep it in a child
            with log_file.open("wb") as out:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "recsys_pipelines.local",
                        "--arguments",
                        str(run_dir / "arguments.json"),
                        "--pipeline-root",
                        str(root),
                        "--result",
                        str(result_file),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Its own process group: the pipeline and its kfp executors are stopped
                    # together by cancel_all(), and a Ctrl-C in the terminal reaches only us.
                    start_new_session=True,
                )
                with self._lock:
                    self._running.add(process)
                try:
                    code = process.wait()
                finally:
                    with self._lock:
                        self._running.discard(process)
            if code != 0 or not result_file.exists():
                stage, reason = _failure(status_dir)
                if reason is None:
                    reason = (
                        f"The pipeline exited with status {code} before a step reported an error "
                        f"(an import or environment problem); its output is in {log_file}: "
                        f"{_plain(_tail(log_file))}"
                    )
                raise PipelineFailed(reason, stage, f"local-{run_id}")
            result: dict[str, Any] = json.loads(result_file.read_text())
        finally:
            done.set()
            watcher.join(timeout=5)
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(status_dir, ignore_errors=True)
        return PipelineOutcome(f"local-{run_id}", result)

    def _watch(self, status_dir: Path, on_stage: StageCallback, done: threading.Event) -> None:
        reported: str | None = None
        while not done.is_set():
            current = _current_stage(status_dir)
            if current and current != reported:
                reported = current
                try:
                    on_stage(current)
                except Exception:  # a DB hiccup must not stop the run
                    log.warning("recording stage %s failed", current, exc_info=True)
            done.wait(self.poll_seconds)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _plain(text: str) -> str:
    """kfp.local colours its messages; strip the ANSI escapes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _current_stage(status_dir: Path) -> str | None:
    status = read_status(status_dir)
    started = [s for s in STAGES if s in status]
    return started[-1] if started else None


def _failure(status_dir: Path) -> tuple[str | None, str | None]:
    for name, body in read_status(status_dir).items():
        if body.get("status") == "failed":
            return name, f"{name}: {body.get('error', 'failed')}"
    return _current_stage(status_dir), None


class KubeflowPipelineRunner:
    """Submits the compiled pipeline with kfp.Client and polls until it finishes."""

    def __init__(
        self,
        host: str,
        *,
        namespace: str | None,
        experiment: str,
        pipeline_root: str | None,
        poll_seconds: float,
        timeout_seconds: float,
        client: Any = None,
        component_image: str | None = None,
    ) -> None:
        self.host = host
        self.namespace = namespace
        self.experiment = experiment
        self.pipeline_root = pipeline_root
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._client = client
        self.component_image = component_image

    def run(self, run_id: str, arguments: dict[str, Any], on_stage: StageCallback) -> PipelineOutcome:
        from recsys_pipelines.submit import make_client, run_status, submit_training_run

        client = self._client or make_client(self.host, self.namespace)
        kfp_run_id = submit_training_run(
            client,
            arguments,
            run_name=f"recsys-training-{arguments.get('tenant_id', '')}-{run_id}",
            experiment=self.experiment,
            namespace=self.namespace,
            pipeline_root=self.pipeline_root,
            component_image=self.component_image,
        )
        deadline = time.monotonic() + self.timeout_seconds
        reported: str | None = None
        while True:
            status = run_status(client, kfp_run_id)
            running = [TASK_STAGES[t] for t in TASK_STAGES if t in status.tasks]
            if running and running[-1] != reported:
                reported = running[-1]
                on_stage(reported)
            if status.finished:
                break
            if time.monotonic() > deadline:
                raise PipelineFailed(
                    f"Kubeflow run {kfp_run_id} did not finish within {self.timeout_seconds:.0f}s",
                    reported,
                    kfp_run_id,
                )
            time.sleep(self.poll_seconds)
        if status.state != "SUCCEEDED":
            failed = [TASK_STAGES[t] for t, s in status.tasks.items() if t in TASK_STAGES and s == "FAILED"]
            reason = status.error or f"Kubeflow run {kfp_run_id} ended {status.state}"
            raise PipelineFailed(reason, failed[0] if failed else reported, kfp_run_id)
        return PipelineOutcome(kfp_run_id, None)
