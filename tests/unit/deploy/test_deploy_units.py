"""Deployer pieces without processes or clusters: schemas, status mapping, settings, factory."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from pydantic import ValidationError
from recsys_platform.deploy.factory import build_resolver, model_server_env
from recsys_platform.deploy.kserve import status_from_object
from recsys_platform.deploy.local import model_server_command
from recsys_platform.deploy.ports import DeploymentSpec, predict_url
from recsys_platform.deploy.resolver import MlflowModelResolver, ModelRef, UriOnlyResolver
from recsys_platform.deploy.schemas import DeploymentCreate, DeploymentUpdate
from recsys_platform.deploy.settings import DeployerSettings
from recsys_platform.errors import InvalidInput
from recsys_platform.settings import ControlPlaneSettings


def test_create_defaults_to_the_champion_alias() -> None:
    body = DeploymentCreate(name="default")
    assert body.model.alias == "champion"
    assert (body.min_replicas, body.max_replicas, body.canary_traffic_percent) == (1, 1, None)


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"name": "default", "model": {}}, ("model",)),
        ({"name": "default", "model": {"alias": "champion", "uri": "/x"}}, ("model",)),
        ({"name": "default", "model": {"version": "v3"}}, ("model", "version")),
        ({"name": "default", "model": {"alias": "bad alias"}}, ("model", "alias")),
        ({"name": "Default"}, ("name",)),
        ({"name": "default", "resources": {"requests": {"cpu": "1 core"}}}, ("resources", "requests", "cpu")),
        ({"name": "default", "resources": {"limits": {"gpu": "1"}}}, ("resources", "limits", "gpu")),
        ({"name": "default", "min_replicas": -1}, ("min_replicas",)),
        ({"name": "default", "max_replicas": 101}, ("max_replicas",)),
        ({"name": "default", "canary_traffic_percent": 101}, ("canary_traffic_percent",)),
        ({"name": "default", "colour": "blue"}, ("colour",)),
    ],
)
def test_create_refuses_bad_input_naming_the_field(payload: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        DeploymentCreate.model_validate(payload)
    locs = [tuple(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(found[: len(loc)] == loc for found in locs), locs


def test_min_replicas_above_max_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_replicas must not exceed max_replicas"):
        DeploymentUpdate(min_replicas=3, max_replicas=2)


def test_status_mapping() -> None:
    ready = status_from_object(
        "acme",
        "default",
        {
            "metadata": {"labels": {"recsys.io/model-version": "4"}},
            "status": {
                "url": "http://default.recsys-acme.example.com",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )
    assert (ready.state, ready.endpoint, ready.model_version) == (
        "ready",
        "http://default.recsys-acme.example.com",
        "4",
    )
    fresh = status_from_object("acme", "default", {"metadata": {}})
    assert (fresh.state, fresh.endpoint) == ("pending", None)
    rolling = status_from_object(
        "acme",
        "default",
        {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "RevisionMissing"}]}},
    )
    assert rolling.state == "pending"
    assert rolling.message == "Ready: RevisionMissing"
    broken = status_from_object(
        "acme",
        "default",
        {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NoSupportingRuntime"}]}},
    )
    assert broken.state == "failed"


def test_namespace_template() -> None:
    assert DeployerSettings().namespace("acme") == "recsys-acme"
    assert DeployerSettings(namespace_template="models-{tenant}").namespace("acme") == "models-acme"
    for bad in ("recsys", "recsys-{tenant}-{env}"):
        with pytest.raises(ValidationError, match="namespace_template"):
            DeployerSettings(namespace_template=bad)


def test_deployer_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DEPLOYER__MODE", "kserve")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DEPLOYER__KUBECONFIG", "/etc/kube/config")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DEPLOYER__CONTEXT", "prod")
    monkeypatch.setenv(
        "RECSYS_CONTROL_PLANE_DEPLOYER__ANNOTATIONS", '{"serving.kserve.io/deploymentMode": "RawDeployment"}'
    )
    deployer = ControlPlaneSettings(_secrets_dir=None).deployer  # type: ignore[call-arg]
    assert (deployer.mode, deployer.kubeconfig, deployer.context) == ("kserve", "/etc/kube/config", "prod")
    assert deployer.annotations == {"serving.kserve.io/deploymentMode": "RawDeployment"}


def test_model_server_env_follows_the_mode(tmp_path: Any) -> None:
    local = ControlPlaneSettings(
        mlflow={"tracking_uri": "http://mlflow:5000"},
        feature_store={"online_store": "redis", "redis_url": "redis://r:6379/1"},
    )
    env = model_server_env(local)
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL"] == "redis://r:6379/1"
    kserve = ControlPlaneSettings(
        mlflow={"tracking_uri": "http://mlflow:5000"},
        feature_store={"online_store": "redis", "redis_url": "redis://user:secret@r:6379/1"},
        deployer={"mode": "kserve"},
    )
    env = model_server_env(kserve)
    # secrets stay out of InferenceService specs: the ServingRuntime reads them from a Secret
    assert not any("secret" in value for value in env.values())
    assert env["RECSYS_MODEL_SERVER_TRACKING_URI"] == "http://mlflow:5000"


def test_resolvers() -> None:
    assert isinstance(
        build_resolver(ControlPlaneSettings(mlflow={"tracking_uri": "http://m:5000"})), MlflowModelResolver
    )
    only = UriOnlyResolver()
    resolved = only.resolve("acme", ModelRef(uri="s3://models/acme/3"))
    assert (resolved.model_uri, resolved.storage_uri, resolved.version) == (
        "s3://models/acme/3",
        "s3://models/acme/3",
        None,
    )
    assert only.resolve("acme", ModelRef(uri="/srv/models/acme")).storage_uri is None
    with pytest.raises(InvalidInput, match="model.alias"):
        only.resolve("acme", ModelRef(alias="champion"))


def test_command_and_predict_url() -> None:
    spec = DeploymentSpec("acme", "default", "/srv/model")
    command = model_server_command(spec, 9001, DeployerSettings())
    assert command == [
        sys.executable,
        "-m",
        "recsys_model_servers",
        "--name",
        "default",
        "--model-uri",
        "/srv/model",
        "--port",
        "9001",
    ]
    assert predict_url("http://h:1/", "default") == "http://h:1/v1/models/default:predict"


def test_no_kubernetes_configuration_is_a_clear_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys_platform.deploy.kserve import build_api_client
    from recsys_platform.errors import DependencyUnavailable

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(DependencyUnavailable, match="RECSYS_CONTROL_PLANE_DEPLOYER__KUBECONFIG"):
        build_api_client(DeployerSettings(mode="kserve"))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, "Forbidden"),
        (404, "NotFound"),
        (409, "Conflict"),
        (422, "InvalidInput"),
        (500, "DependencyUnavailable"),
    ],
)
def test_kubernetes_refusals_map_to_domain_errors(status: int, error: str) -> None:
    from kubernetes.client.exceptions import ApiException
    from recsys_platform.deploy.kserve import _api_error

    exc = ApiException(status=status, reason="Refused")
    exc.body = '{"kind": "Status", "message": "admission webhook denied the request"}'
    mapped = _api_error("create", "default", exc)
    assert type(mapped).__name__ == error
    assert "admission webhook denied the request" in str(mapped)
