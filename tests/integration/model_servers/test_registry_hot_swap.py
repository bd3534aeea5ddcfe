"""Serving ``models:/recsys-<tenant>@champion`` from the real MLflow server, and a hot swap when
the alias moves while a client keeps sending requests."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.model_servers.support import base_env, fit_and_save, model_server

pytestmark = pytest.mark.integration

NAME = "T_registry"


def register(tracking_uri: str, registered_name: str, artifact: Path) -> str:
    """Log the artifact folder as a pyfunc model's ``recsys_model`` artifact; return the version."""
    import mlflow
    from recsys_platform.registry.pyfunc import ARTIFACT_KEY, RecsysPyfuncModel

    # mlflow.set_*_uri write MLFLOW_*_URI into os.environ: restore them, or every process the
    # later tests start would inherit this test's registry
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        mlflow.set_experiment(registered_name)
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=RecsysPyfuncModel(),
                artifacts={ARTIFACT_KEY: str(artifact)},
                registered_model_name=registered_name,
                pip_requirements=["recsys"],
            )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def registered(
    mlflow_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A fresh registered model ``recsys-<tenant>`` with version 1 as champion; deleted afterwards."""
    from mlflow import MlflowClient

    tmp = tmp_path_factory.mktemp("registry")
    tenant = f"ms-{uuid.uuid4().hex[:10]}"
    name = f"recsys-{tenant}"
    v1 = register(mlflow_tracking_uri, name, fit_and_save(tmp / "v1", seed=5))
    client = MlflowClient(tracking_uri=mlflow_tracking_uri, registry_uri=mlflow_tracking_uri)
    client.set_registered_model_alias(name, "champion", v1)
    yield name, tmp
    client.delete_registered_model(name)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        client.delete_experiment(experiment.experiment_id)


def test_alias_move_swaps_the_model_without_failing_requests(
    registered: tuple[str, Path], mlflow_tracking_uri: str
) -> None:
    from mlflow import MlflowClient

    name, tmp = registered
    args = [
        "--model-uri",
        f"models:/{name}@champion",
        "--tracking-uri",
        mlflow_tracking_uri,
        "--alias-poll-seconds",
        "0.5",
        "--no-online-features",
    ]
    with model_server(args, base_env(tmp), tmp / "server.log", NAME) as server:
        v2_meta = f"{server.url}/v2/models/{NAME}"
        assert httpx.get(v2_meta).json()["versions"] == ["1"]  # V2 names the registered version
        versions: Counter[str] = Counter()
        failures: list[str] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(timeout=10) as c:
                while not stop.is_set():
                    try:
                        r = server.predict(c, {"user_id": "u1", "n": 5, "history": ["food-1", "food-2"]})
                        if r.status_code != 200 or len(r.json()["predictions"][0]["items"]) != 5:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                        else:
                            versions[r.json()["predictions"][0]["model_version"]] += 1
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        client_thread = threading.Thread(target=traffic)
        client_thread.start()
        try:
            time.sleep(1.0)
            v2 = register(mlflow_tracking_uri, name, fit_and_save(tmp / "v2", seed=6))
            assert v2 == "2"
            MlflowClient(tracking_uri=mlflow_tracking_uri).set_registered_model_alias(name, "champion", v2)
            deadline = time.monotonic() + 60
            while versions["2"] < 20 and time.monotonic() < deadline and not failures:
                time.sleep(0.1)
        finally:
            stop.set()
            client_thread.join(timeout=30)
        assert failures == [], failures[:5]
        assert versions["1"] > 0 and versions["2"] >= 20, (versions, server.log_tail())
        log = server.log_tail(20_000)
        assert f"alias models:/{name}@champion moved to version 2" in log
        # after the swap every answer comes from version 2
        with httpx.Client(timeout=10) as c:
            r = server.predict(c, {"popular": True, "n": 3})
        assert r.json()["predictions"][0]["model_version"] == "2"
        # V2 follows the swap: metadata lists version 2, its versioned path serves, version 1's is gone
        assert httpx.get(v2_meta).json()["versions"] == ["2"]
        tensor = {"name": "request", "shape": [1], "datatype": "BYTES", "data": ['{"popular": true}']}
        body = {"inputs": [tensor]}
        answer = httpx.post(f"{v2_meta}/versions/2/infer", json=body)
        assert answer.status_code == 200 and answer.json()["model_version"] == "2", answer.text
        gone = httpx.post(f"{v2_meta}/versions/1/infer", json=body)
        assert gone.status_code == 404 and "serving '2'" in gone.json()["error"]


def test_loader_with_the_real_registry_fixed_version_and_unknown_alias(
    registered: tuple[str, Path], mlflow_tracking_uri: str
) -> None:
    from recsys_model_servers.loader import MlflowRegistry, ModelLoader, ModelLoadError, parse_model_uri

    name, _ = registered
    registry = MlflowRegistry(mlflow_tracking_uri)
    fixed = ModelLoader(parse_model_uri(f"models:/{name}/1"), registry=registry).load()
    assert fixed.version == "1" and fixed.source == f"models:/{name}/1"
    assert len(fixed.items) == 112 and fixed.model.popular(3)
    with pytest.raises(ModelLoadError, match=f"resolving models:/{name}@no-such-alias failed"):
        ModelLoader(parse_model_uri(f"models:/{name}@no-such-alias"), registry=registry).load()
