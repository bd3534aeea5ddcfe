"""The chart's RBAC on a real API server, proven by impersonating each ServiceAccount.

Every request below is really sent (``Impersonate-User: system:serviceaccount:<ns>:<name>``;
the API server adds the ServiceAccount groups). Authorization comes before any lookup, so a
403 means "not allowed" and anything else (200, 201, 404 for a name that does not exist)
means "allowed"; writes use ``dryRun=All`` so nothing is stored. The table in
docs/kubernetes.md is this matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube import CHART, Helm, Kube, fullname, service_account_user, tenant_values, unique

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


@dataclass
class Release:
    namespace: str
    name: str
    tenant_ns: str
    other_tenant_ns: str


@pytest.fixture(scope="module")
def release(kube: Kube, helm: Helm) -> Iterator[Release]:
    ns, name = unique("recsys"), unique("rel")
    a, b = unique("acme"), unique("globex")
    kube.create_namespace(ns)
    helm.ok("install", name, str(CHART), "--namespace", ns, "--no-hooks", *tenant_values(a, b))
    yield Release(ns, name, f"recsys-{a}", f"recsys-{b}")
    helm.run("uninstall", name, "--namespace", ns)


def isvc(name: str = "probe") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "recsys"}}}},
    }


Call = Callable[[client.ApiClient, Release], Any]
T, R, DEF = "tenant", "release", "default"  # namespace columns of the table


def ns_of(where: str, r: Release) -> str:
    return {T: r.tenant_ns, "other-tenant": r.other_tenant_ns, R: r.namespace, DEF: "default"}[where]


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def isvc_calls(where: str) -> dict[str, Call]:
    def n(r: Release) -> str:
        return ns_of(where, r)

    return {
        f"get inferenceservices ({where})": lambda a, r: custom(a).get_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL, "nope"
        ),
        f"list inferenceservices ({where})": lambda a, r: custom(a).list_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL
        ),
        f"watch inferenceservices ({where})": lambda a, r: (
            custom(a)
            .list_namespaced_custom_object(
                GROUP, VERSION, n(r), PLURAL, watch=True, timeout_seconds=1, _preload_content=False
            )
            .release_conn()
        ),
        f"create inferenceservices ({where})": lambda a, r: custom(a).create_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL, isvc(), dry_run="All"
        ),
        f"update inferenceservices ({where})": lambda a, r: custom(a).replace_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL, "nope", isvc("nope"), dry_run="All"
        ),
        f"patch inferenceservices ({where})": lambda a, r: custom(a).patch_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL, "nope", {"metadata": {"labels": {"x": "y"}}}, dry_run="All"
        ),
        f"delete inferenceservices ({where})": lambda a, r: custom(a).delete_namespaced_custom_object(
            GROUP, VERSION, n(r), PLURAL, "nope", dry_run="All"
        ),
    }


CALLS: dict[str, Call] = {
    **isvc_calls(T),
    **{k: v for k, v in isvc_calls("other-tenant").items() if k.startswith(("list", "create"))},
    "list inferenceservices (release)": lambda a, r: custom(a).list_namespaced_custom_object(
        GROUP, VERSION, r.namespace, PLURAL
    ),
    "list inferenceservices (default)": lambda a, r: custom(a).list_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL
    ),
    "list inferenceservices (all namespaces)": lambda a, r: custom(a).list_cluster_custom_object(
        GROUP, VERSION, PLURAL
    ),
    "update inferenceservices/status (tenant)": lambda a, r: custom(a).patch_namespaced_custom_object_status(
        GROUP, VERSION, r.tenant_ns, PLURAL, "nope", {"status": {}}, dry_run="All"
    ),
    "get servingruntimes (tenant)": lambda a, r: custom(a).get_namespaced_custom_object(
        GROUP, "v1alpha1", r.tenant_ns, "servingruntimes", "recsys-model-server"
    ),
    "list secrets (tenant)": lambda a, r: client.CoreV1Api(a).list_namespaced_secret(r.tenant_ns),
    "get secrets (release)": lambda a, r: client.CoreV1Api(a).read_namespaced_secret(
        f"{fullname(r.name)}", r.namespace
    ),
    "get configmaps (release)": lambda a, r: client.CoreV1Api(a).read_namespaced_config_map(
        f"{fullname(r.name)}-control-plane", r.namespace
    ),
    "create pods (tenant)": lambda a, r: client.CoreV1Api(a).create_namespaced_pod(
        r.tenant_ns,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="probe"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
        ),
        dry_run="All",
    ),
    "list deployments (tenant)": lambda a, r: client.AppsV1Api(a).list_namespaced_deployment(r.tenant_ns),
    "list namespaces": lambda a, r: client.CoreV1Api(a).list_namespace(),
    "create rolebindings (tenant)": lambda a, r: client.RbacAuthorizationV1Api(
        a
    ).create_namespaced_role_binding(
        r.tenant_ns,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="probe"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="default", namespace=r.namespace)],
        ),
        dry_run="All",
    ),
    "create serviceaccounts/token (release)": lambda a, r: client.CoreV1Api(
        a
    ).create_namespaced_service_account_token(
        f"{fullname(r.name)}-control-plane",
        r.namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    ),
}

#: What each ServiceAccount of the chart may do; everything else in CALLS is refused.
CONTROL_PLANE = {
    name
    for name in CALLS
    if "inferenceservices (tenant)" in name or "inferenceservices (other-tenant)" in name
}
ALLOWED: dict[str, set[str]] = {
    "control-plane": CONTROL_PLANE,
    "gateway": set(),
    "stream": set(),
    "migrate": set(),  # the hook Job's ServiceAccount: database migrations need no Kubernetes API
}


def allowed(api: client.ApiClient, call: Call, release: Release) -> bool:
    try:
        call(api, release)
    except ApiException as exc:
        if exc.status == 403:
            return False
        assert exc.status in (404, 422), f"unexpected {exc.status}: {exc.body}"
    return True


@pytest.mark.parametrize("component", sorted(ALLOWED))
def test_each_service_account_can_do_what_it_needs_and_nothing_else(
    kube: Kube, release: Release, component: str
) -> None:
    api = kube.impersonating(service_account_user(release.namespace, f"{fullname(release.name)}-{component}"))
    try:
        granted = {name for name, call in CALLS.items() if allowed(api, call, release)}
    finally:
        api.close()
    assert granted == ALLOWED[component], {
        "granted but not expected": sorted(granted - ALLOWED[component]),
        "expected but refused": sorted(ALLOWED[component] - granted),
    }


def test_a_service_account_token_from_another_release_namespace_gets_nothing(
    kube: Kube, release: Release
) -> None:
    """The RoleBindings name the ServiceAccount with its namespace: the same name elsewhere is nobody."""
    api = kube.impersonating(service_account_user("default", f"{fullname(release.name)}-control-plane"))
    try:
        assert not allowed(api, CALLS["list inferenceservices (tenant)"], release)
        assert not allowed(api, CALLS["create inferenceservices (tenant)"], release)
    finally:
        api.close()
