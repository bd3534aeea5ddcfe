"""Run the training pipeline on this machine with ``kfp.local`` (SubprocessRunner, no venv).

It runs the committed compiled YAML, the same spec Kubeflow gets, so a local run exercises
exactly what would be submitted (the golden-file test keeps that YAML current).

``kfp.local`` keeps its configuration in module globals, so runs are serialised by a lock.
Each task runs ``python -m kfp.dsl.executor_main`` in a subprocess of this interpreter and
leaves a temporary folder in ``$TMPDIR``; outputs go under ``pipeline_root``.

While it runs, ``kfp.local`` takes over the process: it re-configures the root logger (INFO to
stdout) and replaces ``builtins.print``. A long-lived service therefore runs it in a child
process: ``python -m recsys_pipelines.local --arguments A.json --pipeline-root R --result
OUT.json`` (what ``recsys_platform.training.runner.LocalPipelineRunner`` does), with the
child's output in a log file of the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recsys_pipelines.compile import TRAINING_YAML

_LOCK = threading.Lock()


def run_training_locally(
    arguments: dict[str, Any], pipeline_root: str, package_path: Path = TRAINING_YAML
) -> dict[str, Any]:
    """Run the pipeline to completion; returns the register step's result.

    Raises:
        RuntimeError: kfp.local's "pipeline finished with status FAILURE" (the failing
            step's own message is in its stage status file).
    """
    from kfp import components, local

    pipeline = components.load_component_from_file(str(package_path))
    with _LOCK:
        local.init(
            runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root, raise_on_error=True
        )
        task = pipeline(**arguments)
    result: dict[str, Any] = json.loads(task.output)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one pipeline (arguments from a JSON file), writes the result JSON; 1 on failure."""
    parser = argparse.ArgumentParser(prog="python -m recsys_pipelines.local", description=main.__doc__)
    parser.add_argument("--arguments", required=True, type=Path, help="JSON file of pipeline arguments")
    parser.add_argument("--pipeline-root", required=True, help="kfp.local pipeline root")
    parser.add_argument("--result", required=True, type=Path, help="where the result JSON goes")
    args = parser.parse_args(argv)
    arguments = json.loads(args.arguments.read_text())
    try:
        result = run_training_locally(arguments, args.pipeline_root)
    except Exception as exc:  # the step's own reason is in its status file; this is the wrapper's
        print(f"pipeline failed: {exc}", file=sys.stderr)  # noqa: T201 - the child's log
        return 1
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
