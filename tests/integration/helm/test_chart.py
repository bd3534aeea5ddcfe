"""The Helm chart: lint, render, validate against Kubernetes 1.30 schemas, security defaults.

Builds the pinned Helm CLI with ``scripts/tools/install-helm.sh`` (cached in ``.cache/bin``);
a missing toolchain fails the session instead of skipping it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.integration.helm import kserve_crd

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "recsys"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
VALUE_SETS = {path.stem: path for path in CI_VALUES}
KUBERNETES_VERSION = "1.30"
#: Custom resources the Kubernetes schemas do not know: KServe's are validated against their CRD
#: schemas (``kserve_crd``), the Prometheus Operator's structurally.
KSERVE_KINDS = {"ServingRuntime", "ClusterServingRuntime"}
CRD_KINDS = {"ServiceMonitor", *KSERVE_KINDS}
WORKLOAD_KINDS = {"Deployment", "Job"}
HOOK_ANNOTATIONS = {"helm.sh/hook": "pre-install,pre-upgrade"}


@pytest.fixture(scope="session")
def helm() -> str:
    script = REPO / "scripts" / "tools" / "install-helm.sh"
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"could not build helm with {script} (needs Go and the module proxy):\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout.strip().splitlines()[-1]


def _run(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, check=False)


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    result = _run(helm, "template", "rel", str(CHART), "--namespace", "recsys", *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(helm: str, *args: str) -> str:
    result = _run(helm, "template", "rel", str(CHART), "--namespace", "recsys", *args)
    assert result.returncode != 0, "rendering should have failed"
    return result.stderr


@pytest.fixture(scope="session")
def rendered(helm: str) -> dict[str, list[dict[str, Any]]]:
    return {name: render(helm, "-f", str(path)) for name, path in VALUE_SETS.items()}


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in docs
        if doc["kind"] in WORKLOAD_KINDS
    ]


def test_value_sets_exist() -> None:
    assert set(VALUE_SETS) == {"default", "all-on", "external", "minimal"}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict(helm: str, name: str) -> None:
    result = _run(helm, "lint", "--strict", str(CHART), "-f", str(VALUE_SETS[name]))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_manifests_validate_against_kubernetes(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    assert docs
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_custom_resources_are_only_the_expected_kinds(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    for doc in rendered[name]:
        if doc["kind"] not in CRD_KINDS:
            continue
        if doc["kind"] in KSERVE_KINDS:
            kserve_crd.assert_valid(doc)
            continue
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(doc["spec"]) == {"selector", "namespaceSelector", "endpoints"}
        assert doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"
        for endpoint in doc["spec"]["endpoints"]:
            assert endpoint["path"] == "/metrics"
            assert endpoint["port"] in {"http", "metrics"}
            assert re.fullmatch(r"[0-9]+(ms|s|m|h)", endpoint["interval"])


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_has_secure_defaults(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    specs = pod_specs(rendered[name])
    assert len(specs) == 4  # control plane, gateway, stream, migration Job
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        wants_token = where.startswith("Deployment/") and where.endswith("-control-plane")
        assert spec["automountServiceAccountToken"] is wants_token, where
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}} in spec["volumes"], where
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_control_plane_rbac_is_inferenceservices_and_their_network_policy_only(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    docs = rendered[name]
    assert not objects(docs, "Role")
    assert not objects(docs, "ClusterRoleBinding")
    (cluster_role,) = objects(docs, "ClusterRole")
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        # the deployer guards each tenant namespace it serves in (tenants onboarded by the API too)
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "create"]},
    ]
    tenants = {ns["metadata"]["name"] for ns in objects(docs, "Namespace")}
    bindings = objects(docs, "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == tenants
    assert len(bindings) == len(tenants)
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rel-recsys-control-plane", "namespace": "recsys"}
        ]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_migration_hook(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    (job,) = objects(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == HOOK_ANNOTATIONS["helm.sh/hook"]
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] + container["args"] == ["recsys", "db", "upgrade", "head"]
    job_weight = int(annotations["helm.sh/hook-weight"])
    # Everything the Job uses at pre-install must be a hook created before it.
    secret_name = {
        env["name"]: env["valueFrom"]["secretKeyRef"]["name"]
        for env in container["env"]
        if "valueFrom" in env
    }["RECSYS_CONTROL_PLANE_DATABASE__URL"]
    needed = {("ServiceAccount", job["spec"]["template"]["spec"]["serviceAccountName"])}
    if name != "external":
        needed.add(("Secret", secret_name))
    else:
        assert secret_name == "recsys-credentials"
    for kind, obj_name in needed:
        (obj,) = [d for d in objects(docs, kind) if d["metadata"]["name"] == obj_name]
        obj_annotations = obj["metadata"]["annotations"]
        assert obj_annotations["helm.sh/hook"] == HOOK_ANNOTATIONS["helm.sh/hook"], obj_name
        assert int(obj_annotations["helm.sh/hook-weight"]) < job_weight, obj_name


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_network_policy_per_tenant(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    docs = rendered[name]
    namespaces = {ns["metadata"]["name"] for ns in objects(docs, "Namespace")}
    for kind in ("ResourceQuota", "LimitRange", "NetworkPolicy"):
        assert {o["metadata"]["namespace"] for o in objects(docs, kind)} == namespaces, kind
    for policy in objects(docs, "NetworkPolicy"):
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["podSelector"] == {}
        (rule,) = spec["ingress"]
        (peer,) = rule["from"]
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "recsys"}}
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"


def test_all_on_renders_every_optional_object(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    kinds = {doc["kind"] for doc in docs}
    assert {"Ingress", "ServiceMonitor", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {ns["metadata"]["name"] for ns in objects(docs, "Namespace")} == {"recsys-acme", "recsys-globex"}
    assert len(objects(docs, "PodDisruptionBudget")) == 2
    assert len(objects(docs, "ServiceMonitor")) == 3
    (pvc,) = objects(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "nfs-client"
    (gateway,) = [d for d in objects(docs, "Deployment") if d["metadata"]["name"] == "rel-recsys-gateway"]
    assert "replicas" not in gateway["spec"]  # the HPA owns it


def test_minimal_renders_no_optional_object(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {doc["kind"] for doc in rendered["minimal"]}
    for kind in ("Ingress", "ServiceMonitor", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Namespace"):
        assert kind not in kinds
    for deployment in objects(rendered["minimal"], "Deployment"):
        assert deployment["spec"]["replicas"] == 1


def test_external_uses_existing_secret_and_claim(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["external"]
    assert not objects(docs, "Secret")
    assert not objects(docs, "PersistentVolumeClaim")
    for deployment in objects(docs, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        refs = {
            env["valueFrom"]["secretKeyRef"]["name"]
            for env in spec["containers"][0]["env"]
            if "valueFrom" in env
        }
        assert refs == {"recsys-credentials"}
        claims = [
            v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        ]
        assert claims in ([], ["recsys-offline-store"])
        assert spec["containers"][0]["image"].startswith(
            "registry.example.com/platform/recsys-platform@sha256:"
        )


def test_config_is_kubernetes_mode(rendered: dict[str, list[dict[str, Any]]]) -> None:
    maps = {cm["metadata"]["name"]: cm["data"] for cm in objects(rendered["all-on"], "ConfigMap")}
    control_plane = maps["rel-recsys-control-plane"]
    assert control_plane["RECSYS_CONTROL_PLANE_ENVIRONMENT"] == "production"
    assert control_plane["RECSYS_CONTROL_PLANE_DATABASE__AUTO_MIGRATE"] == "false"
    assert control_plane["RECSYS_CONTROL_PLANE_EVENT_LOG__BACKEND"] == "kafka"
    assert control_plane["RECSYS_CONTROL_PLANE_FEATURE_STORE__ONLINE_STORE"] == "redis"
    assert control_plane["RECSYS_CONTROL_PLANE_MLFLOW__TRACKING_URI"] == "http://mlflow.mlflow.svc:5000"
    assert control_plane["RECSYS_CONTROL_PLANE_KFP__MODE"] == "kubeflow"
    assert control_plane["RECSYS_CONTROL_PLANE_KFP__HOST"] == "http://ml-pipeline.kubeflow.svc:8888"
    assert control_plane["RECSYS_CONTROL_PLANE_DEPLOYER__MODE"] == "kserve"
    assert control_plane["RECSYS_CONTROL_PLANE_DEPLOYER__RUNTIME"] == "recsys-model-server"
    # the deployer's namespaces are the ones the chart creates
    template = control_plane["RECSYS_CONTROL_PLANE_DEPLOYER__NAMESPACE_TEMPLATE"]
    namespaces = {ns["metadata"]["name"] for ns in objects(rendered["all-on"], "Namespace")}
    assert {template.replace("{tenant}", t) for t in ("acme", "globex")} == namespaces
    assert maps["rel-recsys-control-plane"]["RECSYS_CONTROL_PLANE_TRAINING__WORK_DIR"].startswith("/tmp/")
    default = {cm["metadata"]["name"]: cm["data"] for cm in objects(rendered["default"], "ConfigMap")}
    assert default["rel-recsys-control-plane"]["RECSYS_CONTROL_PLANE_KFP__MODE"] == "local"
    assert (
        default["rel-recsys-control-plane"]["RECSYS_CONTROL_PLANE_MLFLOW__TRACKING_URI"]
        == "http://mlflow:5000"
    )
    assert maps["rel-recsys-gateway"]["RECSYS_GATEWAY_HOST"] == "0.0.0.0"
    assert maps["rel-recsys-stream"]["RECSYS_STREAM_METRICS_HOST"] == "0.0.0.0"
    assert maps["rel-recsys-stream"]["RECSYS_STREAM_FEATURE_STORE__OFFLINE_ROOT"] == "/data/offline"
    # bandit checkpoints: the processor registers them where the gateways load them from
    for component, prefix in (("gateway", "RECSYS_GATEWAY_"), ("stream", "RECSYS_STREAM_")):
        assert (
            maps[f"rel-recsys-{component}"][f"{prefix}MLFLOW__TRACKING_URI"]
            == "http://mlflow.mlflow.svc:5000"
        )


def test_default_values_generate_a_development_admin_token(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (secret,) = [s for s in objects(rendered["default"], "Secret") if s["metadata"]["name"] == "rel-recsys"]
    assert set(secret["data"]) == {
        "admin-token",
        "model-token-secret",
        "database-url",
        "redis-url",
        "feature-store-redis-url",
    }
    maps = objects(rendered["default"], "ConfigMap")
    assert all(
        value == "development"
        for cm in maps
        for key, value in cm["data"].items()
        if key.endswith("ENVIRONMENT")
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("gateway:\n  replicas: two\n", "/gateway/replicas"),
        ("gatway:\n  replicas: 2\n", "'gatway' not allowed"),
        ('ingress:\n  enabled: "yes"\n', "/ingress/enabled"),
        ("environment: staging\n", "/environment"),
        ("tenants:\n  - id: Acme\n    quota: {cpu: '1', memory: 1Gi, pods: 2}\n", "/tenants/0/id"),
        ("tenants:\n  - id: acme\n    quota: {cpu: '1', memory: 1Gi}\n", "pods"),
        ("modelServer:\n  runtimeKind: Runtime\n", "/modelServer/runtimeKind"),
        ("deployer:\n  mode: docker\n", "/deployer/mode"),
        ("mlflow:\n  trackingUri: mlflow:5000\n", "/mlflow/trackingUri"),
        ("modelServer:\n  onlineFeatures: 'no'\n", "/modelServer/onlineFeatures"),
    ],
)
def test_schema_refuses_bad_values(helm: str, tmp_path: Path, override: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(override)
    error = render_error(helm, "-f", str(bad))
    assert "schema" in error
    assert message in error


def test_production_refuses_missing_secrets(helm: str) -> None:
    assert "auth.adminToken is required in production" in render_error(
        helm, "--set", "environment=production"
    )
    error = render_error(helm, "--set", "environment=production", "--set", "auth.adminToken=change-me")
    assert "placeholder" in error
    assert "mlflow.trackingUri is required in production" in render_error(
        helm, "--set", "environment=production", "--set", "auth.existingSecret=creds"
    )
    # With an existing Secret nothing secret is needed in values.
    docs = render(
        helm,
        "--set",
        "environment=production",
        "--set",
        "auth.existingSecret=creds",
        "--set",
        "mlflow.trackingUri=http://mlflow:5000",
    )
    assert not objects(docs, "Secret")
    # ... but the model servers' Secret cannot be copied into tenant namespaces
    error = render_error(
        helm,
        "-f",
        str(VALUE_SETS["external"]),
        "--set",
        "modelServer.existingSecret=",
    )
    assert "modelServer.existingSecret is required with auth.existingSecret" in error


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    documented = set(re.findall(r"^\s*## @param (\S+)", (CHART / "values.yaml").read_text(), re.MULTILINE))
    readme = (CHART / "README.md").read_text()

    def leaves(node: Any, prefix: str) -> list[str]:
        if isinstance(node, dict) and node and not prefix.endswith(("Annotations", "annotations", "labels")):
            if prefix in documented:
                return [prefix]
            return [
                leaf for key, value in node.items() for leaf in leaves(value, f"{prefix}.{key}".lstrip("."))
            ]
        return [prefix]

    for leaf in leaves(values, ""):
        assert leaf in documented, f"{leaf} has no ## @param line"
        assert f"`{leaf}`" in readme, f"{leaf} is not in helm/recsys/README.md"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_environment_loads_into_the_settings(
    rendered: dict[str, list[dict[str, Any]]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys_platform import settings as recsys_settings

    fake_secrets = {
        "admin-token": "a-real-looking-admin-token-for-tests",
        "model-token-secret": "a-real-looking-model-token-secret-for-tests",
        "database-url": "postgresql+psycopg://recsys:pw@db:5432/recsys",
        "redis-url": "redis://redis:6379/0",
        "feature-store-redis-url": "redis://redis:6379/1",
    }
    loaders = {
        "control-plane": recsys_settings.ControlPlaneSettings,
        "gateway": recsys_settings.GatewaySettings,
        "stream": recsys_settings.StreamSettings,
    }
    docs = rendered[name]
    maps = {cm["metadata"]["name"]: cm["data"] for cm in objects(docs, "ConfigMap")}
    for deployment in objects(docs, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = dict(maps[container["envFrom"][0]["configMapRef"]["name"]])
        for var in container["env"]:
            env[var["name"]] = var.get("value") or fake_secrets[var["valueFrom"]["secretKeyRef"]["key"]]
        for key in [k for k in os.environ if k.startswith("RECSYS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        loaded = loaders[component](_secrets_dir=None)
        assert loaded.event_log.backend == "kafka"
        assert loaded.database.auto_migrate is False
        if component != "gateway":
            assert loaded.feature_store.online_store == "redis"
            assert str(loaded.feature_store.offline_root) == "/data/offline"


def _runtime_env(container: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    return {
        var["name"]: var["value"] if "value" in var else secrets[var["valueFrom"]["secretKeyRef"]["key"]]
        for var in container["env"]
    }


def test_a_serving_runtime_in_every_tenant_namespace(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["all-on"]
    runtimes = objects(docs, "ServingRuntime")
    namespaces = {ns["metadata"]["name"] for ns in objects(docs, "Namespace")}
    assert {r["metadata"]["namespace"] for r in runtimes} == namespaces
    assert not objects(docs, "ClusterServingRuntime")
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in objects(docs, "Secret")}
    for runtime in runtimes:
        kserve_crd.assert_valid(runtime)
        spec = runtime["spec"]
        assert runtime["metadata"]["name"] == "recsys-model-server"
        assert spec["supportedModelFormats"][0]["name"] == "recsys"
        assert spec["supportedModelFormats"][0]["autoSelect"] is True
        (container,) = spec["containers"]
        assert container["command"] == ["python", "-m", "recsys_model_servers"]
        assert container["args"] == ["--name={{.Name}}", "--http-port=8080"]  # KServe fills in the name
        sc = container["securityContext"]
        assert (sc["runAsNonRoot"], sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"]) == (
            True,
            True,
            False,
        )
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        # every Secret the runtime reads exists in the namespace the pods run in
        for var in container["env"]:
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = secrets[(runtime["metadata"]["namespace"], ref["name"])]
                assert ref["key"] in secret["data"], ref


def test_a_cluster_serving_runtime_with_existing_secrets(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["external"]
    (runtime,) = objects(docs, "ClusterServingRuntime")
    assert not objects(docs, "ServingRuntime")
    kserve_crd.assert_valid(runtime)
    assert "namespace" not in runtime["metadata"]
    (container,) = runtime["spec"]["containers"]
    assert container["image"] == ("registry.example.com/platform/recsys-model-server@sha256:" + "1" * 64)
    refs = {v["valueFrom"]["secretKeyRef"]["name"] for v in container["env"] if "valueFrom" in v}
    assert refs == {"recsys-model-server-credentials"}
    assert runtime["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_runtime_environment_loads_into_the_model_server_settings(
    rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys_model_servers.settings import ModelServerSettings

    (runtime, *_) = objects(rendered["all-on"], "ServingRuntime")
    env = _runtime_env(
        runtime["spec"]["containers"][0],
        {
            "feature-store-redis-url": "redis://redis:6379/1",
            "feature-store-registry-url": "postgresql+psycopg://recsys:pw@db:5432/recsys",
        },
    )
    # what the KServe deployer adds on the InferenceService (see deploy/kserve.py)
    env["RECSYS_MODEL_SERVER_MODEL_URI"] = "models:/recsys-acme@champion"
    env["RECSYS_MODEL_SERVER_TENANT_ID"] = "acme"
    env["RECSYS_MODEL_SERVER_AUTH_TOKEN"] = "the-deployment-token"
    env["RECSYS_MODEL_SERVER_HOST"] = "0.0.0.0"
    for key in [k for k in os.environ if k.startswith("RECSYS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loaded = ModelServerSettings(name="default", http_port=8080)
    assert loaded.environment == "production"
    assert loaded.feature_store.online_store == "redis"
    assert loaded.feature_store.redis_url == "redis://redis:6379/1"
    assert loaded.tracking_uri == "http://mlflow.mlflow.svc:5000"
    assert loaded.online_features is True


def test_the_pipeline_component_image_comes_from_values(helm: str) -> None:
    image = "registry.example.com/mirror/recsys-pipelines@sha256:" + "b" * 64
    docs = render(
        helm,
        "--set",
        "kubeflowPipelines.host=http://ml-pipeline.kubeflow.svc:8888",
        "--set",
        f"kubeflowPipelines.componentImage={image}",
    )
    maps = {cm["metadata"]["name"]: cm["data"] for cm in objects(docs, "ConfigMap")}
    assert maps["rel-recsys-control-plane"]["RECSYS_CONTROL_PLANE_KFP__COMPONENT_IMAGE"] == image
    # and the control plane reads it into the setting the Kubeflow runner submits with
    from recsys_platform.settings import KfpSettings

    assert KfpSettings(mode="kubeflow", host="http://k", component_image=image).component_image == image
    unset = render(helm, "--set", "kubeflowPipelines.host=http://ml-pipeline.kubeflow.svc:8888")
    default = {cm["metadata"]["name"]: cm["data"] for cm in objects(unset, "ConfigMap")}
    assert "RECSYS_CONTROL_PLANE_KFP__COMPONENT_IMAGE" not in default["rel-recsys-control-plane"]
    assert "componentImage" in render_error(helm, "--set", "kubeflowPipelines.componentImage=has space")
