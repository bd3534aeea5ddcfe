"""Stage status files: each pipeline step reports ``running``/``succeeded``/``failed`` (+ error).

The local runner passes a folder; the service polls it to show the current stage and to
report the failing step's own error message (kfp.local only says "task failed").
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Pipeline stages in execution order.
STAGES = ("load_data", "train", "evaluate", "register")
#: Test hook: a stage name here makes that stage fail (``register`` fails after registering).
FAIL_STAGE_ENV = "RECSYS_TRAINING_FAIL_STAGE"


class InjectedFailure(RuntimeError):
    """Raised by :func:`maybe_fail` when ``RECSYS_TRAINING_FAIL_STAGE`` names the stage."""


def maybe_fail(stage: str) -> None:
    """Fail on purpose when the test hook names ``stage``."""
    if os.environ.get(FAIL_STAGE_ENV) == stage:
        raise InjectedFailure(f"stage {stage} failed on purpose ({FAIL_STAGE_ENV}={stage})")


def _write(status_dir: str, stage: str, body: dict[str, Any]) -> None:
    folder = Path(status_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{stage}.json.tmp"
    tmp.write_text(json.dumps(body))
    os.replace(tmp, folder / f"{stage}.json")


@contextmanager
def stage(name: str, status_dir: str) -> Iterator[None]:
    """Report the stage around its body; an exception is recorded with its message, then re-raised."""
    started = time.time()
    if status_dir:
        _write(status_dir, name, {"stage": name, "status": "running", "started_at": started})
    try:
        yield
    except BaseException as exc:
        if status_dir:
            _write(
                status_dir,
                name,
                {
                    "stage": name,
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:],
                    "started_at": started,
                    "finished_at": time.time(),
                },
            )
        raise
    if status_dir:
        _write(
            status_dir,
            name,
            {"stage": name, "status": "succeeded", "started_at": started, "finished_at": time.time()},
        )


def read_status(status_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Stage name -> last reported status (stages that did not start are absent)."""
    out: dict[str, dict[str, Any]] = {}
    folder = Path(status_dir)
    for name in STAGES:
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text())
            except ValueError:  # written atomically; a partial read cannot happen, but be safe
                continue
    return out
