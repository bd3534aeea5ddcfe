"""The Helm chart against a real Kubernetes API server (``start.sh kube``).

Install, upgrade (values and chart), rollback and uninstall with the README's production
values and every value set of ``helm/recsys/ci``; what the chart renders is stored by the API
server as rendered (nothing pruned by a CRD schema, nothing refused by validation or
admission); the migration hook's objects pass server-side dry-run, and the hook ordering is
exercised by writing the Job's status as the Job controller would (no kubelet runs it here).
Names are unique per test: namespaces are never finalized on this server (no controllers).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tests.kube import CHART, Helm, Kube, b64, fullname, unique, wait_for

pytestmark = pytest.mark.integration

VALUE_SETS = {path.stem: path for path in sorted((CHART / "ci").glob("*.yaml"))}
HOOK = "helm.sh/hook"


def readme_args(tenants_file: Path) -> list[str]:
    """The production install of helm/recsys/README.md ("Install", with a Secret you manage)."""
    return [
        "--set",
        "environment=production",
        "--set",
        "auth.existingSecret=recsys-credentials",
        "--set",
        "kafka.bootstrapServers=my-cluster-kafka-bootstrap.kafka.svc:9092",
        "--set",
        "kafka.replicationFactor=3",
        "--set",
        "persistence.storageClass=nfs-client",
        "--set",
        "mlflow.trackingUri=http://mlflow.mlflow.svc:5000",
        "--set",
        "kubeflowPipelines.host=http://ml-pipeline.kubeflow.svc:8888",
        "--set",
        "modelServer.existingSecret=recsys-model-server",
        "-f",
        str(tenants_file),
    ]


def tenants_file(path: Path, *ids: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {"tenants": [{"id": t, "quota": {"cpu": "8", "memory": "16Gi", "pods": 20}} for t in ids]}
        )
    )
    return path


def create_secret(kube: Kube, namespace: str, name: str, data: dict[str, str]) -> None:
    from kubernetes import client

    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name), data={k: b64(v) for k, v in data.items()}, type="Opaque"
    )
    kube.core.create_namespaced_secret(namespace, body)


CREDENTIALS = {
    "admin-token": "0123456789abcdef0123456789abcdef",
    "database-url": "postgresql+psycopg://recsys:PASSWORD@postgresql.data.svc:5432/recsys",
    "redis-url": "redis://redis.data.svc:6379/0",
    "feature-store-redis-url": "redis://redis.data.svc:6379/1",
}


def manifest(helm: Helm, release: str, namespace: str) -> list[dict[str, Any]]:
    out = helm.ok("get", "manifest", release, "--namespace", namespace)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def assert_subset(rendered: Any, stored: Any, where: str) -> None:
    """Every rendered field is stored with the same value (the API server may add defaults)."""
    if isinstance(rendered, dict):
        assert isinstance(stored, dict), f"{where}: stored {stored!r}"
        for key, value in rendered.items():
            if value is None:
                continue
            assert key in stored, f"{where}.{key} was dropped by the API server (pruned by a schema?)"
            assert_subset(value, stored[key], f"{where}.{key}")
    elif isinstance(rendered, list):
        assert isinstance(stored, list) and len(stored) == len(rendered), f"{where}: {stored!r}"
        for i, (a, b) in enumerate(zip(rendered, stored, strict=True)):
            assert_subset(a, b, f"{where}[{i}]")
    else:
        assert str(rendered) == str(stored), f"{where}: rendered {rendered!r}, stored {stored!r}"


def assert_stored_as_rendered(kube: Kube, docs: list[dict[str, Any]], namespace: str) -> None:
    assert docs
    for doc in docs:
        meta = doc["metadata"]
        resource = kube.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        ns = meta.get("namespace") or (namespace if resource.namespaced else None)
        stored = kube.get(doc["apiVersion"], doc["kind"], meta["name"], ns)
        assert stored is not None, f"{doc['kind']}/{meta['name']} is not in the cluster"
        for part in ("spec", "data", "rules", "roleRef", "subjects", "automountServiceAccountToken"):
            if part in doc:
                assert_subset(doc[part], stored[part], f"{doc['kind']}/{meta['name']}.{part}")
        assert_subset(
            meta.get("labels") or {},
            stored["metadata"].get("labels") or {},
            f"{doc['kind']}/{meta['name']}.labels",
        )


def deployment_image(kube: Kube, namespace: str, name: str) -> str:
    dep = kube.apps.read_namespaced_deployment(name, namespace)
    return str(dep.spec.template.spec.containers[0].image)


def namespace_gone(kube: Kube, name: str) -> bool:
    """Deleted, or being deleted (no namespace controller finalizes it on this server)."""
    try:
        ns = kube.core.read_namespace(name)
    except ApiException as exc:
        return exc.status == 404
    return ns.metadata.deletion_timestamp is not None


def test_readme_install_then_upgrade_rollback_and_uninstall(kube: Kube, helm: Helm, tmp_path: Path) -> None:
    ns, release = unique("recsys"), unique("recsys")
    acme, globex = unique("acme"), unique("globex")
    kube.create_namespace(ns)
    create_secret(kube, ns, "recsys-credentials", CREDENTIALS)
    one = tenants_file(tmp_path / "my-tenants.yaml", acme)
    helm.ok("install", release, str(CHART), "--namespace", ns, *readme_args(one), "--no-hooks")
    # the README's next step: the model servers' Secret in the tenant namespace the chart created
    create_secret(
        kube,
        f"recsys-{acme}",
        "recsys-model-server",
        {
            "feature-store-redis-url": "redis://redis.data.svc:6379/1",
            "feature-store-registry-url": CREDENTIALS["database-url"],
        },
    )

    docs = manifest(helm, release, ns)
    assert_stored_as_rendered(kube, docs, ns)
    kinds = {(d["kind"], d["metadata"].get("namespace", ns)) for d in docs}
    tenant_ns = f"recsys-{acme}"
    for kind in (
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "RoleBinding",
        "ServingRuntime",
    ):
        assert any(k == kind and (kind == "Namespace" or n == tenant_ns) for k, n in kinds), kind
    for component in ("control-plane", "gateway", "stream"):
        assert "recsys-platform" in deployment_image(kube, ns, f"{fullname(release)}-{component}")
    quota = kube.core.read_namespaced_resource_quota(f"tenant-{acme}", tenant_ns)
    assert quota.spec.hard == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "16Gi",
        "limits.memory": "16Gi",
        "pods": "20",
    }
    # every Secret key the ServingRuntime's container reads exists in the tenant's namespace
    runtime = kube.get("serving.kserve.io/v1alpha1", "ServingRuntime", "recsys-model-server", tenant_ns)
    assert runtime is not None
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for c in runtime["spec"]["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in (e.get("valueFrom") or {})
    ]
    assert refs
    for ref in refs:
        secret = kube.core.read_namespaced_secret(ref["name"], tenant_ns)
        assert ref["key"] in secret.data, ref
    # the PVC exists (Pending: no provisioner here) and is kept on uninstall
    pvc = f"{fullname(release)}-offline"
    assert kube.core.read_namespaced_persistent_volume_claim(pvc, ns).spec.storage_class_name == "nfs-client"

    # upgrade 2: a values change
    helm.ok(
        "upgrade",
        release,
        str(CHART),
        "--namespace",
        ns,
        "--reuse-values",
        "--set",
        "image.tag=0.2.0",
        "--no-hooks",
    )
    assert deployment_image(kube, ns, f"{fullname(release)}-gateway").endswith(":0.2.0")
    # upgrade 3: a tenant added through values
    two = tenants_file(tmp_path / "two.yaml", acme, globex)
    helm.ok("upgrade", release, str(CHART), "--namespace", ns, "--reuse-values", "-f", str(two), "--no-hooks")
    globex_ns = f"recsys-{globex}"
    assert kube.core.read_namespace(globex_ns).metadata.labels["recsys.io/tenant"] == globex
    assert kube.rbac.read_namespaced_role_binding(f"{fullname(release)}-control-plane", globex_ns).subjects[
        0
    ].name == (f"{fullname(release)}-control-plane")
    assert kube.get("serving.kserve.io/v1alpha1", "ServingRuntime", "recsys-model-server", globex_ns)
    # upgrade 4: a chart change (new version with a new template)
    chart = tmp_path / "recsys"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.1.1-test"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "templates" / "zz-test-extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: {{ .Release.Name }}-extra\ndata: {chart: changed}\n"
    )
    helm.ok("upgrade", release, str(chart), "--namespace", ns, "--reuse-values", "--no-hooks")
    assert kube.core.read_namespaced_config_map(f"{release}-extra", ns).data == {"chart": "changed"}
    history = yaml.safe_load(helm.ok("history", release, "--namespace", ns, "-o", "yaml"))
    assert [h["chart"] for h in history] == ["recsys-0.1.0"] * 3 + ["recsys-0.1.1-test"]

    # a tenant removed: back to revision 1 (one tenant, the original image, the original chart)
    helm.ok("rollback", release, "1", "--namespace", ns)
    assert "0.2.0" not in deployment_image(kube, ns, f"{fullname(release)}-gateway")
    with pytest.raises(ApiException) as gone:
        kube.core.read_namespaced_config_map(f"{release}-extra", ns)
    assert gone.value.status == 404
    assert namespace_gone(kube, globex_ns)
    with pytest.raises(ApiException) as unbound:  # the control plane lost its rights there at once
        kube.rbac.read_namespaced_role_binding(f"{fullname(release)}-control-plane", globex_ns)
    assert unbound.value.status == 404
    assert not namespace_gone(kube, tenant_ns)

    helm.ok("uninstall", release, "--namespace", ns)
    for component in ("control-plane", "gateway", "stream"):
        with pytest.raises(ApiException):
            kube.apps.read_namespaced_deployment(f"{fullname(release)}-{component}", ns)
    assert namespace_gone(kube, tenant_ns)
    kept = kube.core.read_namespaced_persistent_volume_claim(pvc, ns)  # helm.sh/resource-policy: keep
    assert kept.metadata.deletion_timestamp is None
    assert kube.rbac.list_cluster_role(label_selector=f"app.kubernetes.io/instance={release}").items == []


def value_set(path: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A ci/ value set with unique tenant ids (tenant namespaces are cluster-wide)."""
    values = yaml.safe_load(path.read_text()) or {}
    for tenant in values.get("tenants") or []:
        tenant["id"] = unique(tenant["id"])
    if (values.get("modelServer") or {}).get("runtimeKind") == "ClusterServingRuntime":
        values["modelServer"]["runtimeName"] = unique("recsys-model-server")
    out = tmp_path / path.name
    out.write_text(yaml.safe_dump(values))
    return out, values


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_value_set_installs_and_its_hook_passes_server_dry_run(
    kube: Kube, helm: Helm, tmp_path: Path, name: str
) -> None:
    ns, release = unique("recsys"), unique(name)
    kube.create_namespace(ns)
    values_file, values = value_set(VALUE_SETS[name], tmp_path)
    args = ["--namespace", ns, "-f", str(values_file)]
    if (values.get("metrics") or {}).get("serviceMonitor", {}).get("enabled"):
        # no Prometheus Operator here: Helm refuses before creating anything, naming the CRD
        failed = helm.run("install", release, str(CHART), *args, "--no-hooks")
        assert failed.returncode != 0
        assert 'no matches for kind "ServiceMonitor"' in failed.stderr
        assert "ensure CRDs are installed first" in failed.stderr
        assert kube.apps.list_namespaced_deployment(ns).items == []
        helm.run("uninstall", release, "--namespace", ns)
        args += ["--set", "metrics.serviceMonitor.enabled=false"]
    helm.ok("install", release, str(CHART), *args, "--no-hooks")
    try:
        assert_stored_as_rendered(kube, manifest(helm, release, ns), ns)
        hooks = [
            d
            for d in helm.template(release, ns, *args[2:])
            if HOOK in (d["metadata"].get("annotations") or {})
        ]
        if values.get("migration", {}).get("enabled", True):
            assert {d["kind"] for d in hooks} >= {"Job", "ServiceAccount"}
        for doc in sorted(
            hooks, key=lambda d: int(d["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))
        ):
            created = kube.dry_run_create(doc, ns)  # validation + admission, nothing stored
            assert_subset(doc["spec"] if "spec" in doc else {}, created.get("spec", {}), doc["kind"])
            assert kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], ns) is None
    finally:
        helm.ok("uninstall", release, "--namespace", ns)


def job_status(kube: Kube, namespace: str, name: str, succeeded: bool) -> None:
    """Write the Job's status as the Job controller does when its pod ends."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if succeeded:
        conditions = [
            {
                "type": "SuccessCriteriaMet",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Complete",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
        ]
        status = {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": conditions,
        }
    else:
        conditions = [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
        ]
        status = {
            "startTime": now,
            "failed": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": conditions,
        }
    kube.batch.patch_namespaced_job_status(name, namespace, {"status": status})


def test_migration_hook_gates_install_and_upgrade(kube: Kube, helm: Helm, tmp_path: Path) -> None:
    """Where a kubelet runs it: Helm creates the hook ServiceAccount and Secret, then the Job,
    waits for it, and only then creates or rolls the Deployments; a failed migration fails the
    upgrade, keeps the Job for `kubectl logs`, and leaves the running release untouched."""
    ns, release = unique("recsys"), unique("recsys")
    kube.create_namespace(ns)
    job = f"{fullname(release)}-migrate"
    install = helm.popen("install", release, str(CHART), "--namespace", ns, "--timeout", "120s")
    try:
        wait_for(lambda: kube.batch.list_namespaced_job(ns).items, timeout=90, what="the migration Job")
        assert kube.core.read_namespaced_service_account(job, ns)  # weight -10, created first
        assert kube.core.read_namespaced_secret(job, ns).data["database-url"]
        assert kube.apps.list_namespaced_deployment(ns).items == []  # gated on the migration
        job_status(kube, ns, job, succeeded=True)
        _, err = install.communicate(timeout=120)
        assert install.returncode == 0, err
    finally:
        if install.poll() is None:
            install.kill()
    assert kube.batch.list_namespaced_job(ns).items == []  # hook-succeeded: cleaned up
    assert kube.core.list_namespaced_secret(ns, field_selector=f"metadata.name={job}").items == []
    assert len(kube.apps.list_namespaced_deployment(ns).items) == 3

    upgrade = helm.popen(
        "upgrade",
        release,
        str(CHART),
        "--namespace",
        ns,
        "--reuse-values",
        "--set",
        "image.tag=0.2.0",
        "--timeout",
        "120s",
    )
    try:
        found = wait_for(
            lambda: kube.batch.list_namespaced_job(ns).items, timeout=90, what="the migration Job"
        )
        assert found[0].spec.template.spec.containers[0].image.endswith(":0.2.0")  # the new image migrates
        job_status(kube, ns, job, succeeded=False)
        _, err = upgrade.communicate(timeout=120)
    finally:
        if upgrade.poll() is None:
            upgrade.kill()
    assert upgrade.returncode != 0
    assert "BackoffLimitExceeded" in err or "failed" in err.lower(), err
    assert kube.batch.read_namespaced_job(job, ns).status.failed == 1  # kept for inspection
    assert not deployment_image(kube, ns, f"{fullname(release)}-gateway").endswith(":0.2.0")
    helm.ok("uninstall", release, "--namespace", ns)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--set", "auth.adminToken=change-me"], "placeholder"),
        (
            ["--set", "auth.adminToken=0123456789abcdef0123456789abcdef", "--set", "database.url="],
            "database.url is required in production",
        ),
    ],
)
def test_production_install_refuses_placeholder_and_missing_secrets(
    kube: Kube, helm: Helm, change: list[str], message: str
) -> None:
    ns, release = unique("recsys"), unique("recsys")
    kube.create_namespace(ns)
    result = helm.run(
        "install",
        release,
        str(CHART),
        "--namespace",
        ns,
        "--no-hooks",
        "--set",
        "environment=production",
        "--set",
        f"database.url={CREDENTIALS['database-url']}",
        "--set",
        f"redis.url={CREDENTIALS['redis-url']}",
        "--set",
        f"redis.featureStoreUrl={CREDENTIALS['feature-store-redis-url']}",
        "--set",
        "mlflow.trackingUri=http://mlflow.mlflow.svc:5000",
        *change,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert kube.core.list_namespaced_secret(ns).items == []  # not even a release record
    assert kube.apps.list_namespaced_deployment(ns).items == []
