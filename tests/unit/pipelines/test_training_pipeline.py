"""The committed pipeline YAML is what the code compiles to (golden file), with thin, uncached tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from recsys_pipelines import compile as compile_module
from recsys_pipelines.components import COMPONENT_IMAGE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_committed_yaml_matches_a_fresh_compile(tmp_path: Path) -> None:
    fresh = compile_module.compile_training(tmp_path / "training_pipeline.yaml").read_text()
    committed = compile_module.TRAINING_YAML.read_text()
    assert fresh == committed, "run `python -m recsys_pipelines.compile` and commit the YAML"
    assert compile_module.main(["--check"]) == 0


def test_check_fails_when_the_committed_yaml_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "stale.yaml"
    stale.write_text(compile_module.TRAINING_YAML.read_text().replace("recsys-training", "old-name"))
    monkeypatch.setattr(compile_module, "TRAINING_YAML", stale)
    assert compile_module.main(["--check"]) == 1


def test_tasks_run_in_order_uncached_in_the_project_image_without_pip() -> None:
    spec = yaml.safe_load(compile_module.TRAINING_YAML.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"load-data", "train-model", "evaluate-model", "register-model"}
    assert tasks["train-model"]["dependentTasks"] == ["load-data"]
    assert set(tasks["register-model"]["dependentTasks"]) == {"evaluate-model", "load-data", "train-model"}
    for task in tasks.values():
        assert task["cachingOptions"] == {}, "caching must be off: every run reads current data"
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["image"] == COMPONENT_IMAGE
        assert "pip install" not in " ".join(container["command"])
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert {"tenant_id", "offline_root", "mlflow_tracking_uri", "training_run_id"} <= set(inputs)
    assert inputs["promotion_margin"]["defaultValue"] == 0.005
