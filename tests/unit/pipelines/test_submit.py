"""kfp.Client submission against a loopback server that records what the client sends.

Not a real Kubeflow Pipelines installation: the server answers the four v2beta1 calls
kfp 2.17's client makes (healthz, experiment lookup/create, run create, run get).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from recsys_pipelines.compile import TRAINING_YAML
from recsys_pipelines.submit import make_client, run_status, submit_training_run
from recsys_platform.training.runner import KubeflowPipelineRunner, PipelineFailed

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
ARGS = {
    "tenant_id": "acme",
    "offline_root": "s3://offline",
    "mlflow_tracking_uri": "http://mlflow:5000",
    "training_run_id": "tr-1",
    "params_json": "{}",
}


class FakeKfp(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.run_states: list[dict[str, Any]] = [{"state": "SUCCEEDED"}]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    server: FakeKfp

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: dict[str, Any], code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.calls.append(("GET", self.path, {}))
        if self.path.startswith("/apis/v2beta1/runs/"):
            state = (
                self.server.run_states.pop(0)
                if len(self.server.run_states) > 1
                else self.server.run_states[0]
            )
            self._send({"run_id": "run-1", **state})
        elif self.path.startswith(("/apis/v2beta1/experiments", "/apis/v2beta1/healthz")):
            self._send({})
        else:
            self._send({"error": "unknown"}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.calls.append(("POST", self.path, body))
        if self.path == "/apis/v2beta1/experiments":
            self._send({"experiment_id": "exp-1", "display_name": body["display_name"]})
        elif self.path == "/apis/v2beta1/runs":
            self._send({"run_id": "run-1", "display_name": body["display_name"], "state": "PENDING"})
        else:
            self._send({"error": "unknown"}, 404)


@pytest.fixture
def kfp_server() -> Iterator[FakeKfp]:
    server = FakeKfp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_submission_uploads_the_committed_spec_with_the_run_parameters(kfp_server: FakeKfp) -> None:
    client = make_client(kfp_server.url)
    run_id = submit_training_run(client, ARGS, run_name="train-acme", experiment="recsys-training")
    assert run_id == "run-1"
    posts = {path: body for method, path, body in kfp_server.calls if method == "POST"}
    assert posts["/apis/v2beta1/experiments"]["display_name"] == "recsys-training"
    run = posts["/apis/v2beta1/runs"]
    assert run["experiment_id"] == "exp-1"
    assert run["display_name"] == "train-acme"
    assert run["pipeline_spec"] == yaml.safe_load(TRAINING_YAML.read_text())
    assert run["runtime_config"]["parameters"] == ARGS


def test_run_status_reads_state_tasks_and_error(kfp_server: FakeKfp) -> None:
    kfp_server.run_states = [
        {
            "state": "FAILED",
            "error": {"message": "train-model: OOMKilled"},
            "run_details": {"task_details": [{"display_name": "train", "state": "FAILED"}]},
        }
    ]
    status = run_status(make_client(kfp_server.url), "run-1")
    assert (status.state, status.finished, status.error) == ("FAILED", True, "train-model: OOMKilled")
    assert status.tasks == {"train": "FAILED"}


def test_kubeflow_runner_reports_stages_and_failures(kfp_server: FakeKfp) -> None:
    runner = KubeflowPipelineRunner(
        kfp_server.url,
        namespace=None,
        experiment="recsys-training",
        pipeline_root=None,
        poll_seconds=0.01,
        timeout_seconds=10,
    )
    kfp_server.run_states = [
        {
            "state": "RUNNING",
            "run_details": {"task_details": [{"display_name": "load data", "state": "RUNNING"}]},
        },
        {
            "state": "SUCCEEDED",
            "run_details": {"task_details": [{"display_name": "register", "state": "SUCCEEDED"}]},
        },
    ]
    stages: list[str] = []
    outcome = runner.run("tr-1", ARGS, stages.append)
    assert outcome.pipeline_run_id == "run-1"
    assert stages == ["load_data", "register"]

    kfp_server.run_states = [
        {
            "state": "FAILED",
            "error": {"message": "evaluate failed"},
            "run_details": {"task_details": [{"display_name": "evaluate", "state": "FAILED"}]},
        }
    ]
    with pytest.raises(PipelineFailed) as failed:
        runner.run("tr-2", ARGS, stages.append)
    assert (failed.value.stage, failed.value.reason) == ("evaluate", "evaluate failed")


def test_the_component_image_comes_from_the_settings(kfp_server: FakeKfp) -> None:
    image = "registry.example.com/mirror/recsys-pipelines@sha256:" + "a" * 64
    runner = KubeflowPipelineRunner(
        kfp_server.url,
        namespace=None,
        experiment="recsys-training",
        pipeline_root=None,
        poll_seconds=0.01,
        timeout_seconds=10,
        component_image=image,
    )
    runner.run("tr-3", ARGS, lambda stage: None)
    [run] = [
        body for method, path, body in kfp_server.calls if method == "POST" and path == "/apis/v2beta1/runs"
    ]
    sent = run["pipeline_spec"]
    executors = sent["deploymentSpec"]["executors"]
    assert len(executors) >= 4 and {e["container"]["image"] for e in executors.values()} == {image}
    # nothing else changed
    compiled = yaml.safe_load(TRAINING_YAML.read_text())
    for name, executor in compiled["deploymentSpec"]["executors"].items():
        executor["container"]["image"] = image
        assert executors[name] == executor
    assert {k: v for k, v in sent.items() if k != "deploymentSpec"} == {
        k: v for k, v in compiled.items() if k != "deploymentSpec"
    }
