"""The real Kubernetes API server of the test harness (``scripts/services/start.sh kube``).

kube-apiserver + etcd on loopback, TLS, RBAC, the vendored KServe CRDs applied; no kubelet and
no controllers, so nothing runs pods or writes ``.status``: tests write the status subresource
the way a controller would. Helpers here give the admin client, real per-service-account
credentials (TokenRequest, signed by the API server's service-account key), impersonating
clients, server-side dry-run and Helm.
"""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "recsys"


def unique(prefix: str) -> str:
    """A DNS-1123 name nobody else uses (namespaces are never finalized here: no controller)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Kube:
    """The test API server as its admin (``system:masters``)."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.batch = client.BatchV1Api(self.api)
        self._dynamic: dynamic.DynamicClient | None = None

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def ready(self) -> bool:
        body = self.api.call_api("/readyz", "GET", auth_settings=["BearerToken"], _preload_content=False)
        return bool(body[0].data == b"ok")

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        if self._dynamic is None:
            self._dynamic = dynamic.DynamicClient(self.api)
        return self._dynamic

    # -- credentials ----------------------------------------------------------------------
    def _raw(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(Path(self.kubeconfig).read_text())
        return data

    def token_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        """A kubeconfig for the same cluster (same CA) authenticating with ``token``."""
        raw = self._raw()
        cluster = raw["clusters"][0]
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [
                {"name": "c", "context": {"cluster": cluster["name"], "user": "u", "namespace": namespace}}
            ],
            "current-context": "c",
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A real, API-server-signed token of a ServiceAccount (what a pod would mount)."""
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=seconds))  # fmt: skip
        answer = self.core.create_namespaced_service_account_token(name, namespace, request)
        return str(answer.status.token)

    def service_account_kubeconfig(self, path: Path, namespace: str, name: str) -> Path:
        return self.token_kubeconfig(path, self.service_account_token(namespace, name), namespace)

    def impersonating(self, user: str) -> client.ApiClient:
        """An admin client that acts as ``user`` (the ``Impersonate-User`` header). For a
        ServiceAccount user the API server adds its groups itself, as for a real token."""
        api = config.new_client_from_config(config_file=self.kubeconfig)
        api.default_headers["Impersonate-User"] = user
        return api

    # -- objects --------------------------------------------------------------------------
    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels or {}))
        self.core.create_namespace(body)

    def dry_run_create(self, manifest: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create with ``dryRun=All``: full server-side validation and admission, nothing stored."""
        resource = self.dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        ns = manifest.get("metadata", {}).get("namespace") or (namespace if resource.namespaced else None)
        created = resource.create(body=manifest, namespace=ns, dry_run="All")
        result: dict[str, Any] = created.to_dict()
        return result

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            found: dict[str, Any] = resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None
        return found

    def close(self) -> None:
        self.api.close()


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a ServiceAccount's token."""
    return f"system:serviceaccount:{namespace}:{name}"


# -- Helm -------------------------------------------------------------------------------------


class Helm:
    """The pinned Helm CLI against the test API server."""

    def __init__(self, binary: str, kubeconfig: str) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "--kubeconfig", self.kubeconfig, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def ok(self, *args: str, timeout: float = 180) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.binary, "--kubeconfig", self.kubeconfig, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def template(self, release: str, namespace: str, *args: str, chart: Path = CHART) -> list[dict[str, Any]]:
        out = self.ok("template", release, str(chart), "--namespace", namespace, *args)
        return [doc for doc in yaml.safe_load_all(out) if doc]


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@contextmanager
def released(helm: Helm, release: str, namespace: str) -> Iterator[None]:
    try:
        yield
    finally:
        helm.run("uninstall", release, "--namespace", namespace, "--no-hooks", "--wait=false")


def tenant_values(*ids: str) -> list[str]:
    """``--set`` arguments for ``tenants`` (each with the quota the chart's schema requires)."""
    args: list[str] = []
    for i, tenant in enumerate(ids):
        for key, value in (("id", tenant), ("quota.cpu", "4"), ("quota.memory", "8Gi"), ("quota.pods", "10")):
            args += ["--set-string" if key != "quota.pods" else "--set", f"tenants[{i}].{key}={value}"]
    return args


def fullname(release: str) -> str:
    """The chart's ``recsys.fullname``: the release name when it contains "recsys", else
    ``<release>-recsys``; object names are ``<fullname>-<component>``."""
    return release if "recsys" in release else f"{release}-recsys"
