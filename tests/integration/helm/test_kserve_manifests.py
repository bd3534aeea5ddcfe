"""Every InferenceService the KServe deployer generates validates against KServe's CRD schema;
bad specs are refused before a manifest exists, and the validator itself catches broken ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from recsys_platform.deploy.kserve import inference_service
from recsys_platform.deploy.ports import DeploymentSpec, ResourceBounds
from recsys_platform.deploy.settings import DeployerSettings

from tests.integration.helm import kserve_crd

pytestmark = pytest.mark.integration

SETTINGS = DeployerSettings(mode="kserve")
SPECS = {
    "alias": DeploymentSpec("acme", "default", "models:/recsys-acme@champion", model_version="7"),
    "version-with-storage": DeploymentSpec(
        "acme",
        "pinned",
        "models:/recsys-acme/3",
        model_version="3",
        storage_uri="s3://mlflow/1/abc/artifacts/model",
    ),
    "canary": DeploymentSpec(
        "globex", "news-v2", "models:/recsys-globex/12", model_version="12", canary_traffic_percent=10
    ),
    "resources": DeploymentSpec(
        "acme",
        "big",
        "models:/recsys-acme@champion",
        requests=ResourceBounds("500m", "1Gi"),
        limits=ResourceBounds("2", "4Gi"),
        min_replicas=2,
        max_replicas=10,
    ),
    "scale-to-zero": DeploymentSpec(
        "acme", "batch", "pvc://models/acme/3", storage_uri="pvc://models/acme/3", min_replicas=0
    ),
    "env": DeploymentSpec(
        "acme", "tuned", "models:/recsys-acme@champion", env={"RECSYS_MODEL_SERVER_CANDIDATE_POOL": "300"}
    ),
}
CUSTOM = DeployerSettings(
    mode="kserve",
    runtime="recsys-gpu",
    namespace_template="team-{tenant}-models",
    service_account_name="model-reader",
    annotations={"serving.kserve.io/deploymentMode": "RawDeployment"},
    env={"RECSYS_MODEL_SERVER_LOG_LEVEL": "DEBUG"},
)


@pytest.mark.parametrize("case", sorted(SPECS))
@pytest.mark.parametrize("settings", [SETTINGS, CUSTOM], ids=["default-settings", "custom-settings"])
def test_generated_inference_services_validate(case: str, settings: DeployerSettings) -> None:
    manifest = inference_service(SPECS[case], settings)
    kserve_crd.assert_valid(manifest)
    predictor = manifest["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "recsys"}
    assert predictor["model"]["runtime"] == settings.runtime
    assert manifest["metadata"]["namespace"] == settings.namespace(SPECS[case].tenant_id)
    assert manifest["metadata"]["labels"]["recsys.io/tenant"] == SPECS[case].tenant_id


def test_custom_settings_reach_the_manifest() -> None:
    manifest = inference_service(SPECS["resources"], CUSTOM)
    assert manifest["metadata"]["namespace"] == "team-acme-models"
    assert manifest["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = manifest["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "model-reader"
    assert {"name": "RECSYS_MODEL_SERVER_LOG_LEVEL", "value": "DEBUG"} in predictor["model"]["env"]
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Default"}, "name"),
        ({"name": "a" * 50}, "name"),
        ({"name": "9lives"}, "name"),
        ({"model_uri": ""}, "model_uri"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"canary_traffic_percent": 101}, "canary_traffic_percent"),
        ({"canary_traffic_percent": -1}, "canary_traffic_percent"),
    ],
)
def test_bad_specs_are_refused(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "tenant_id": "acme",
        "name": "default",
        "model_uri": "models:/recsys-acme@champion",
    }
    with pytest.raises(ValueError, match=message):
        DeploymentSpec(**{**base, **fields})


def _broken(mutate: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(inference_service(SPECS["resources"], SETTINGS))
    mutate(manifest)
    return manifest


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda m: m["spec"]["predictor"].update(minReplicas="two"), "spec.predictor.minReplicas"),
        (lambda m: m["spec"]["predictor"]["model"].update(storageUrl="s3://x"), "spec.predictor.model"),
        (
            lambda m: (
                m["spec"]["predictor"]["model"].pop("modelFormat")
                and m["spec"]["predictor"]["model"].update(modelFormat={"version": "1"})
            ),
            "spec.predictor.model.modelFormat",
        ),
        (lambda m: m["spec"]["predictor"]["model"]["resources"]["limits"].update(cpu="two"), "limits"),
        (lambda m: m["metadata"].update(name="Big"), "metadata.name"),
        (lambda m: m["metadata"]["labels"].update({"recsys.io/tenant": "a" * 70}), "metadata.labels"),
        (lambda m: m.update(apiVersion="serving.kserve.io/v1alpha1"), "apiVersion"),
        (lambda m: m.pop("spec"), "spec"),
    ],
    ids=[
        "replicas-type",
        "unknown-field",
        "format-name",
        "quantity",
        "name",
        "label",
        "api-version",
        "no-spec",
    ],
)
def test_the_validator_catches_broken_manifests(mutate: Any, where: str) -> None:
    problems = kserve_crd.errors(_broken(mutate))
    assert problems, "a broken manifest passed"
    assert any(where in p or ("spec" == where and "'spec' is a required" in p) for p in problems), problems
