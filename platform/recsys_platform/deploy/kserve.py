"""KServe adapter: one ``InferenceService`` per deployment in the tenant's namespace.

The manifest names our ServingRuntime (model format ``recsys``); the model server
inside gets the model to load through ``RECSYS_MODEL_SERVER_MODEL_URI``: the MLflow
URI (an alias URI follows the alias, the server hot-swaps), or ``/mnt/models`` when
``storageUri`` points KServe's storage initializer at a fetchable copy.
The ``kubernetes`` client is imported inside methods (not on the CLI start-up path).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from recsys_platform.deploy.ports import DeploymentSpec, DeploymentStatus
from recsys_platform.deploy.settings import DeployerSettings
from recsys_platform.errors import DependencyUnavailable

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger(__name__)

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
MODEL_FORMAT = "recsys"
#: Where KServe's storage initializer puts what ``storageUri`` names.
MOUNTED_MODEL_DIR = "/mnt/models"
TENANT_LABEL = "recsys.io/tenant"
DEPLOYMENT_LABEL = "recsys.io/deployment"
VERSION_LABEL = "recsys.io/model-version"
MANAGED_BY = {"app.kubernetes.io/managed-by": "recsys-control-plane", "app.kubernetes.io/part-of": "recsys"}
#: URI schemes KServe's storage initializer can download (anything else the server fetches itself).
STORAGE_SCHEMES = ("s3://", "gs://", "pvc://", "hdfs://", "webhdfs://", "https://", "http://", "oci://")


def inference_service(spec: DeploymentSpec, settings: DeployerSettings) -> dict[str, Any]:
    """The ``InferenceService`` manifest of a deployment (validated against the CRD in tests)."""
    env = {**settings.env, **spec.env}
    if spec.storage_uri:
        env["RECSYS_MODEL_SERVER_MODEL_URI"] = MOUNTED_MODEL_DIR
    else:
        env["RECSYS_MODEL_SERVER_MODEL_URI"] = spec.model_uri
    env["RECSYS_MODEL_SERVER_TENANT_ID"] = spec.tenant_id
    env["RECSYS_MODEL_SERVER_HOST"] = "0.0.0.0"  # the pod's interface; the token guards it
    model: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "runtime": settings.runtime,
        "protocolVersion": "v1",
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
    }
    if spec.storage_uri:
        model["storageUri"] = spec.storage_uri
    resources: dict[str, dict[str, str]] = {}
    if spec.requests.as_dict():
        resources["requests"] = spec.requests.as_dict()
    if spec.limits.as_dict():
        resources["limits"] = spec.limits.as_dict()
    if resources:
        model["resources"] = resources
    predictor: dict[str, Any] = {
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
        "model": model,
    }
    if spec.canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = spec.canary_traffic_percent
    if settings.service_account_name:
        predictor["serviceAccountName"] = settings.service_account_name
    labels = {**MANAGED_BY, TENANT_LABEL: spec.tenant_id, DEPLOYMENT_LABEL: spec.name}
    if spec.model_version:
        labels[VERSION_LABEL] = spec.model_version
    metadata: dict[str, Any] = {
        "name": spec.name,
        "namespace": settings.namespace(spec.tenant_id),
        "labels": labels,
    }
    annotations = {**settings.annotations, "recsys.io/model-uri": spec.model_uri}
    metadata["annotations"] = annotations
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def status_from_object(tenant_id: str, name: str, obj: dict[str, Any]) -> DeploymentStatus:
    """Map an InferenceService's ``.status`` to a :class:`DeploymentStatus`.

    The endpoint is the cluster-internal address (what the gateway calls) when KServe
    reports one, else the public ``.status.url``.
    """
    status = obj.get("status") or {}
    labels = (obj.get("metadata") or {}).get("labels") or {}
    version = labels.get(VERSION_LABEL)
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready")
    endpoint = ((status.get("address") or {}).get("url")) or status.get("url")
    if ready is not None and ready.get("status") == "True":
        return DeploymentStatus(tenant_id, name, "ready", endpoint, version)
    failing = [
        c for c in conditions.values() if c.get("status") == "False" and (c.get("reason") or c.get("message"))
    ]
    message = "; ".join(
        f"{c.get('type')}: {c.get('reason') or ''} {c.get('message') or ''}".strip() for c in failing
    )
    terminal = any(
        c.get("reason") in {"InvalidSpec", "RuntimeNotRecognized", "NoSupportingRuntime"} for c in failing
    )
    model_state = ((status.get("modelStatus") or {}).get("states") or {}).get("targetModelState")
    if terminal or model_state == "FailedToLoad":
        return DeploymentStatus(
            tenant_id, name, "failed", endpoint, version, message or "model failed to load"
        )
    return DeploymentStatus(tenant_id, name, "pending", endpoint, version, message or None)


#: Name of the policy the deployer keeps in every tenant namespace it deploys into.
NETWORK_POLICY_NAME = "recsys-model-servers-from-gateway"


def network_policy(namespace: str, settings: DeployerSettings) -> dict[str, Any]:
    """Ingress to every pod of a tenant namespace only from the gateway pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NETWORK_POLICY_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "recsys-control-plane"},
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": settings.gateway_namespace}
                            },
                            "podSelector": {"matchLabels": dict(settings.gateway_pod_labels)},
                        }
                    ]
                }
            ],
        },
    }


class KServeDeployer:
    """Creates, patches, reads and deletes InferenceServices with the Kubernetes API."""

    mode = "kserve"

    def __init__(self, settings: DeployerSettings, api_client: ApiClient | None = None) -> None:
        self._settings = settings
        self._api_client = api_client
        self._guarded: set[str] = set()  # namespaces whose NetworkPolicy exists

    def _ensure_network_policy(self, namespace: str) -> None:
        """Create the namespace's gateway-only NetworkPolicy once (409: it exists already)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if not self._settings.network_policy or namespace in self._guarded:
            return
        if self._api_client is None:
            self._api_client = build_api_client(self._settings)
        api = client.NetworkingV1Api(self._api_client)
        try:
            self._call(
                "create network policy",
                api.create_namespaced_network_policy,
                namespace,
                network_policy(namespace, self._settings),
            )
        except ApiException as exc:
            if exc.status != 409:
                detail = (
                    f"Kubernetes refused to create NetworkPolicy '{NETWORK_POLICY_NAME}' in namespace "
                    f"'{namespace}' ({_api_message(exc)}); no model server starts there unguarded"
                )
                # 403: this control plane may not work in the namespace (a tenant the chart was
                # not installed for); the caller's to fix, like the InferenceService's own 403
                from recsys_platform.errors import Forbidden

                raise (Forbidden(detail) if exc.status == 403 else DependencyUnavailable(detail)) from exc
        self._guarded.add(namespace)

    # -- client ----------------------------------------------------------------------------
    def _api(self) -> Any:
        from kubernetes import client

        if self._api_client is None:
            self._api_client = build_api_client(self._settings)
        return client.CustomObjectsApi(self._api_client)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        kwargs.setdefault("_request_timeout", self._settings.request_timeout_seconds)
        try:
            return fn(*args, **kwargs)
        except ApiException:
            raise
        except Exception as exc:  # urllib3 connection errors, TLS, timeouts
            raise DependencyUnavailable(f"Kubernetes API unreachable ({what}): {exc}") from exc

    # -- port ------------------------------------------------------------------------------
    def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Create the InferenceService, or patch it (a merge patch) when it exists."""
        from kubernetes.client.exceptions import ApiException

        api = self._api()
        manifest = inference_service(spec, self._settings)
        ns = manifest["metadata"]["namespace"]
        self._ensure_network_policy(ns)  # before any model server of the namespace can start
        try:
            obj = self._call(
                "create", api.create_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, manifest
            )
        except ApiException as exc:
            if exc.status != 409:
                raise _api_error("create", spec.name, exc) from exc
            patch = dict(manifest)
            if spec.canary_traffic_percent is None:
                # a merge patch keeps fields it does not mention: clear a finished canary
                patch["spec"] = {"predictor": {**manifest["spec"]["predictor"], "canaryTrafficPercent": None}}
            try:
                obj = self._call(
                    "patch", api.patch_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, spec.name, patch
                )
            except ApiException as patch_exc:
                raise _api_error("patch", spec.name, patch_exc) from patch_exc
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                # KServe's finalizer keeps a deleted InferenceService until its controller has
                # cleaned up: patching it does not bring it back
                from recsys_platform.errors import Conflict

                raise Conflict(
                    f"InferenceService '{spec.name}' in namespace '{ns}' is still being deleted; "
                    "retry once it is gone"
                ) from exc
        log.info("inferenceservice applied", extra={"namespace": ns, "deployment": spec.name})
        return status_from_object(spec.tenant_id, spec.name, obj)

    def status(self, tenant_id: str, name: str) -> DeploymentStatus:
        from kubernetes.client.exceptions import ApiException

        ns = self._settings.namespace(tenant_id)
        try:
            obj = self._call(
                "get", self._api().get_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return DeploymentStatus(tenant_id, name, "stopped", message="no InferenceService")
            raise _api_error("get", name, exc) from exc
        return status_from_object(tenant_id, name, obj)

    def undeploy(self, tenant_id: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        ns = self._settings.namespace(tenant_id)
        try:
            self._call(
                "delete", self._api().delete_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error("delete", name, exc) from exc

    def list(self, tenant_id: str) -> list[DeploymentStatus]:
        from kubernetes.client.exceptions import ApiException

        ns = self._settings.namespace(tenant_id)
        try:
            found = self._call(
                "list",
                self._api().list_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                PLURAL,
                label_selector=f"{TENANT_LABEL}={tenant_id}",
            )
        except ApiException as exc:
            raise _api_error("list", ns, exc) from exc
        return [
            status_from_object(tenant_id, item["metadata"]["name"], item) for item in found.get("items", [])
        ]

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.close()
            self._api_client = None


def build_api_client(settings: DeployerSettings) -> ApiClient:
    """A Kubernetes API client from the kubeconfig/context in settings, else in-cluster config."""
    from kubernetes import client, config

    if settings.kubeconfig or settings.context:
        return config.new_client_from_config(config_file=settings.kubeconfig, context=settings.context)
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except config.ConfigException:
        try:
            return config.new_client_from_config()
        except Exception as exc:
            raise DependencyUnavailable(
                "no Kubernetes configuration: not in a cluster and no kubeconfig "
                f"(set RECSYS_CONTROL_PLANE_DEPLOYER__KUBECONFIG): {exc}"
            ) from exc


def _api_error(what: str, name: str, exc: Any) -> Exception:
    from recsys_platform.errors import Conflict, Forbidden, InvalidInput, NotFound

    reason = _api_message(exc)
    detail = f"Kubernetes refused to {what} InferenceService '{name}': {reason}"
    if exc.status == 403:
        return Forbidden(detail)
    if exc.status == 404:
        return NotFound(detail)
    if exc.status == 409:
        return Conflict(detail)
    if exc.status in (400, 422):
        return InvalidInput(detail)
    return DependencyUnavailable(detail)


def _api_message(exc: Any) -> str:
    import json

    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return str(body.get("message") or exc.reason or exc.status)
