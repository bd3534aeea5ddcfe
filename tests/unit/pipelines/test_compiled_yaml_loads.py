"""The committed pipeline YAML read back by the KFP SDK's own loaders and the IR's proto types.

``kfp.components.load_component_from_file`` is what a KFP user (and ``kfp.Client``'s
``create_run_from_pipeline_package``) does with the file; ``PipelineSpec`` is the protobuf
message of the pipeline IR that the KFP backend (v2 API server and driver) parses, here with
unknown fields refused. What needs a cluster (the backend accepting the upload, the driver
and launcher running the tasks in the image) is not exercised here.
"""

from __future__ import annotations

import inspect

import pytest
import yaml
from google.protobuf import json_format
from recsys_pipelines.compile import TRAINING_YAML

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_sdk_loads_the_compiled_pipeline_as_a_component_with_its_inputs() -> None:
    from kfp import components
    from recsys_pipelines.training_pipeline import training_pipeline

    loaded = components.load_component_from_file(str(TRAINING_YAML))
    assert loaded.name == "recsys-training"
    signature = inspect.signature(training_pipeline.pipeline_func)
    assert set(loaded.component_spec.inputs or {}) == set(signature.parameters)
    # it is a graph component: its DAG has the four tasks, each bound to an executor in the image
    spec = loaded.pipeline_spec
    assert set(spec.root.dag.tasks) == {"load-data", "train-model", "evaluate-model", "register-model"}
    executors = {t.component_ref.name for t in spec.root.dag.tasks.values()}
    assert all(spec.components[c].executor_label in spec.deployment_spec["executors"] for c in executors)


def test_the_ir_parses_strictly_into_the_backend_pipeline_spec_message() -> None:
    from kfp.pipeline_spec import pipeline_spec_pb2

    document = yaml.safe_load(TRAINING_YAML.read_text())
    message = json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    assert message.schema_version == "2.1.0"
    assert message.pipeline_info.name == "recsys-training"
    # a field the backend does not know is refused, so the check above is not vacuous
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict({**document, "notAField": 1}, pipeline_spec_pb2.PipelineSpec())
