"""Submit the compiled training pipeline to Kubeflow Pipelines with ``kfp.Client`` and poll it.

The submitted spec is the committed ``compiled/training_pipeline.yaml`` (the golden file),
so what runs on the cluster is exactly what code review saw.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recsys_pipelines.compile import TRAINING_YAML

#: Terminal run states of the KFP v2 API.
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})


@dataclass(frozen=True)
class RunStatus:
    """State of a Kubeflow run, its tasks' states by display name, and its error message."""

    run_id: str
    state: str
    tasks: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


def make_client(host: str, namespace: str | None = None) -> Any:
    """A ``kfp.Client`` for ``host`` (``kfp`` is imported here, not at module import)."""
    import kfp

    return kfp.Client(host=host, namespace=namespace)


def submit_training_run(
    client: Any,
    arguments: dict[str, Any],
    *,
    run_name: str,
    experiment: str,
    namespace: str | None = None,
    package_path: Path = TRAINING_YAML,
    pipeline_root: str | None = None,
    component_image: str | None = None,
) -> str:
    """Create a run of the compiled pipeline (caching off); returns the KFP run id.

    ``component_image`` replaces the image every component runs in (the compiled spec names
    the release's default, ``COMPONENT_IMAGE``): the chart sets it from its values, so a
    mirrored registry or a pinned digest needs no recompilation."""
    with tempfile.TemporaryDirectory() as tmp:
        if component_image:
            package_path = with_component_image(package_path, component_image, Path(tmp))
        return _create_run(client, package_path, arguments, run_name, experiment, namespace, pipeline_root)


def with_component_image(package_path: Path, image: str, folder: Path) -> Path:
    """A copy of the compiled spec whose executors all run ``image``."""
    spec = yaml.safe_load(package_path.read_text())
    executors = spec["deploymentSpec"]["executors"]
    for executor in executors.values():
        executor["container"]["image"] = image
    out = folder / package_path.name
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def _create_run(
    client: Any,
    package_path: Path,
    arguments: dict[str, Any],
    run_name: str,
    experiment: str,
    namespace: str | None,
    pipeline_root: str | None,
) -> str:
    result = client.create_run_from_pipeline_package(
        str(package_path),
        arguments=arguments,
        run_name=run_name,
        experiment_name=experiment,
        namespace=namespace,
        enable_caching=False,
        pipeline_root=pipeline_root or None,
    )
    return str(result.run_id)


def run_status(client: Any, run_id: str) -> RunStatus:
    """The run's state, task states and error (from ``get_run``)."""
    run = client.get_run(run_id)
    state = str(getattr(run, "state", None) or "PENDING")
    tasks: dict[str, str] = {}
    details = getattr(run, "run_details", None)
    for task in getattr(details, "task_details", None) or []:
        name = getattr(task, "display_name", None)
        if name:
            tasks[str(name)] = str(getattr(task, "state", "") or "")
    error = getattr(run, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    return RunStatus(run_id=run_id, state=state, tasks=tasks, error=str(message) if message else None)
