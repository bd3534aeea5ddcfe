"""``recsys deployments``: serve a tenant's model (local processes or KServe).

``create/update/list/get/delete`` talk to the control plane. ``manifest`` prints the
InferenceService the KServe deployer would apply (no cluster needed) and ``cluster``
reads InferenceServices straight from a cluster (``--kubeconfig``/``--context``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from recsys_platform.cli.common import (
    DEFAULT_DEV_TOKEN,
    DEFAULT_URL,
    Output,
    OutputOpt,
    TokenOpt,
    UrlOpt,
    YesOpt,
    all_items,
    client,
    confirm,
    console,
    print_json,
    render,
    reported_errors,
)

app = typer.Typer(
    help="Serve tenants' models: create, roll out, list, delete deployments.", no_args_is_help=True
)

AliasOpt = Annotated[str | None, typer.Option("--alias", help="Registry alias to serve (default champion).")]
VersionOpt = Annotated[str | None, typer.Option("--version", help="Registered model version to serve.")]
UriOpt = Annotated[
    str | None, typer.Option("--uri", help="Model URI as is (artifact folder, models:/, s3://).")
]
CpuOpt = Annotated[str | None, typer.Option("--cpu", help="CPU request per replica (KServe), e.g. 500m.")]
MemOpt = Annotated[
    str | None, typer.Option("--memory", help="Memory request per replica (KServe), e.g. 1Gi.")
]
CpuLimitOpt = Annotated[str | None, typer.Option("--cpu-limit", help="CPU limit per replica (KServe).")]
MemLimitOpt = Annotated[str | None, typer.Option("--memory-limit", help="Memory limit per replica (KServe).")]
MinOpt = Annotated[int, typer.Option("--min-replicas", help="Fewest replicas.")]
MaxOpt = Annotated[int, typer.Option("--max-replicas", help="Most replicas.")]
CanaryOpt = Annotated[
    int | None, typer.Option("--canary", help="Traffic percent for the new revision (KServe rollout).")
]
KubeconfigOpt = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file (default: in-cluster or ~/.kube/config)."
    ),
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Kubeconfig context (default: current).")]


def _body(
    alias: str | None,
    version: str | None,
    uri: str | None,
    cpu: str | None,
    memory: str | None,
    cpu_limit: str | None,
    memory_limit: str | None,
    min_replicas: int,
    max_replicas: int,
    canary: int | None,
) -> dict[str, Any]:
    model = {k: v for k, v in (("alias", alias), ("version", version), ("uri", uri)) if v is not None}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v is not None}
    body: dict[str, Any] = {
        "model": model or {"alias": "champion"},
        "resources": {"requests": requests, "limits": limits},
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
    }
    if canary is not None:
        body["canary_traffic_percent"] = canary
    return body


def _changes(
    alias: str | None,
    version: str | None,
    uri: str | None,
    cpu: str | None,
    memory: str | None,
    cpu_limit: str | None,
    memory_limit: str | None,
    min_replicas: int | None,
    max_replicas: int | None,
    canary: int | None,
) -> dict[str, Any]:
    """A PATCH body with only the options the user gave (nothing else is reset)."""
    model = {k: v for k, v in (("alias", alias), ("version", version), ("uri", uri)) if v is not None}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v is not None}
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    given = {
        "model": model or None,
        "resources": resources or None,
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
        "canary_traffic_percent": canary,
    }
    return {k: v for k, v in given.items() if v is not None}


def _show(d: dict[str, Any]) -> None:
    version = d.get("resolved_version") or "-"
    where = d.get("predict_url") or "-"
    console.print(f"deployment/{d['name']} {d['status']}  version {version}  {where}")
    if d.get("error"):
        console.print(f"  error: {d['error']}")


@app.command("create")
def create(
    tenant_id: str,
    name: str,
    alias: AliasOpt = None,
    version: VersionOpt = None,
    uri: UriOpt = None,
    cpu: CpuOpt = None,
    memory: MemOpt = None,
    cpu_limit: CpuLimitOpt = None,
    memory_limit: MemLimitOpt = None,
    min_replicas: MinOpt = 1,
    max_replicas: MaxOpt = 1,
    canary: CanaryOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Serve a model version under NAME (default: the tenant's champion)."""
    body = {
        "name": name,
        **_body(
            alias, version, uri, cpu, memory, cpu_limit, memory_limit, min_replicas, max_replicas, canary
        ),
    }
    with reported_errors(), client(url, token) as c:
        _show(c.post(f"/v1/tenants/{tenant_id}/deployments", json=body))


@app.command("update")
def update(
    tenant_id: str,
    name: str,
    alias: AliasOpt = None,
    version: VersionOpt = None,
    uri: UriOpt = None,
    cpu: CpuOpt = None,
    memory: MemOpt = None,
    cpu_limit: CpuLimitOpt = None,
    memory_limit: MemLimitOpt = None,
    min_replicas: Annotated[int | None, typer.Option("--min-replicas", help="Fewest replicas.")] = None,
    max_replicas: Annotated[int | None, typer.Option("--max-replicas", help="Most replicas.")] = None,
    canary: CanaryOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Change only what is given on NAME: another model (``--alias``/``--version``/``--uri``),
    scaling or resources; the rest stays (``--canary`` splits traffic on KServe)."""
    body = _changes(
        alias, version, uri, cpu, memory, cpu_limit, memory_limit, min_replicas, max_replicas, canary
    )
    if not body:
        raise typer.BadParameter("nothing to change: give --alias/--version/--uri, scaling or resources")
    with reported_errors(), client(url, token) as c:
        _show(c.request("PATCH", f"/v1/tenants/{tenant_id}/deployments/{name}", json=body))


@app.command("list")
def list_deployments(
    tenant_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """List a tenant's deployments with status, version and endpoint."""
    with reported_errors(), client(url, token) as c:
        items = all_items(c, f"/v1/tenants/{tenant_id}/deployments")
    if as_json:
        print_json(items)
        return
    table = Table("name", "status", "mode", "model", "version", "endpoint")
    for d in items:
        model = d["model"]
        ref = model.get("alias") and f"@{model['alias']}" or model.get("version") or model.get("uri") or "-"
        table.add_row(
            d["name"],
            d["status"],
            d["mode"],
            str(ref),
            d.get("resolved_version") or "-",
            d.get("endpoint") or "-",
        )
    console.print(table)


@app.command("get")
def get(
    tenant_id: str,
    name: str,
    output: OutputOpt = Output.json,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Show one deployment (JSON by default)."""
    with reported_errors(), client(url, token) as c:
        render(c.get(f"/v1/tenants/{tenant_id}/deployments/{name}"), output, print_json)


@app.command("delete")
def delete(
    tenant_id: str,
    name: str,
    yes: YesOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Stop serving NAME and remove it."""
    confirm(f"Delete deployment {name} of {tenant_id}? It stops serving at once.", yes)
    with reported_errors(), client(url, token) as c:
        c.delete(f"/v1/tenants/{tenant_id}/deployments/{name}")
    console.print(f"deployment/{name} deleted")


@app.command("manifest")
def manifest(
    tenant_id: str,
    name: str,
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="What the server loads (models:/recsys-<tenant>@champion).")
    ] = "",
    storage_uri: Annotated[
        str | None, typer.Option("--storage-uri", help="s3://, gs:// or pvc:// copy for KServe to fetch.")
    ] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="ServingRuntime name.")] = "recsys-model-server",
    cpu: CpuOpt = None,
    memory: MemOpt = None,
    cpu_limit: CpuLimitOpt = None,
    memory_limit: MemLimitOpt = None,
    min_replicas: MinOpt = 1,
    max_replicas: MaxOpt = 1,
    canary: CanaryOpt = None,
) -> None:
    """Print the InferenceService YAML the KServe deployer applies (no cluster needed)."""
    import yaml

    from recsys_platform.deploy.kserve import inference_service
    from recsys_platform.deploy.ports import DeploymentSpec, ResourceBounds
    from recsys_platform.deploy.settings import DeployerSettings

    try:
        spec = DeploymentSpec(
            tenant_id=tenant_id,
            name=name,
            model_uri=model_uri or f"models:/recsys-{tenant_id}@champion",
            storage_uri=storage_uri,
            requests=ResourceBounds(cpu, memory),
            limits=ResourceBounds(cpu_limit, memory_limit),
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            canary_traffic_percent=canary,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    doc = inference_service(spec, DeployerSettings(mode="kserve", runtime=runtime))
    typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@app.command("cluster")
def cluster(
    tenant_id: str,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace_template: Annotated[
        str, typer.Option("--namespace-template", help="Tenant namespace naming.")
    ] = "recsys-{tenant}",
) -> None:
    """List the tenant's InferenceServices straight from a cluster (status, URL)."""
    from recsys_platform.deploy.kserve import KServeDeployer
    from recsys_platform.deploy.settings import DeployerSettings

    settings = DeployerSettings(
        mode="kserve", kubeconfig=kubeconfig, context=context, namespace_template=namespace_template
    )
    deployer = KServeDeployer(settings)
    try:
        with reported_errors():
            found = deployer.list(tenant_id)
    finally:
        deployer.close()
    table = Table("name", "state", "version", "endpoint", "message")
    for s in found:
        table.add_row(s.name, s.state, s.model_version or "-", s.endpoint or "-", s.message or "")
    console.print(table)
