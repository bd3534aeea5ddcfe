"""``recsys experiments``: a tenant's A/B experiments and their results."""

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
    render,
    reported_errors,
)
from recsys_platform.errors import FieldError, InvalidInput

app = typer.Typer(help="Create, start, stop A/B experiments and show their results.", no_args_is_help=True)


def parse_variant(spec: str) -> dict[str, Any]:
    """``name=deployment[:weight]`` -> a variant body; raises InvalidInput naming the field."""
    name, sep, rest = spec.partition("=")
    deployment, _, weight = rest.partition(":")
    if not sep or not name or not deployment:
        raise InvalidInput(
            f"--variant '{spec}' must look like name=deployment[:weight]",
            [FieldError("variant", "expected name=deployment[:weight]")],
        )
    try:
        value = float(weight) if weight else 1.0
    except ValueError:
        raise InvalidInput(
            f"--variant '{spec}': weight '{weight}' is not a number",
            [FieldError("variant.weight", "not a number")],
        ) from None
    return {"name": name, "deployment": deployment, "weight": value}


def _show(exp: dict[str, Any]) -> None:
    variants = ", ".join(f"{v['name']}={v['deployment']}:{v['weight']:g}" for v in exp["variants"])
    console.print(f"{exp['name']}  [bold]{exp['status']}[/bold]  surface={exp['surface']}  {variants}")


@app.command("create")
def create(
    tenant_id: str,
    name: str,
    variant: Annotated[
        list[str],
        typer.Option("--variant", help="name=deployment[:weight], repeat; the first is the control."),
    ],
    surface: Annotated[str, typer.Option(help="Where the lists are shown.")] = "default",
    window: Annotated[int, typer.Option("--window", help="Click attribution window (seconds).")] = 1800,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Create a draft experiment."""
    with reported_errors():
        body = {
            "name": name,
            "surface": surface,
            "variants": [parse_variant(v) for v in variant],
            "attribution_window_seconds": window,
        }
        with client(url, token) as c:
            _show(c.post(f"/v1/tenants/{tenant_id}/experiments", json=body))


@app.command("list")
def list_experiments(
    tenant_id: str,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """List the tenant's experiments."""
    with reported_errors(), client(url, token) as c:
        items = all_items(c, f"/v1/tenants/{tenant_id}/experiments")

    def table(items: list[dict[str, Any]]) -> None:
        t = Table("name", "surface", "status", "variants", "started", "stopped")
        for e in items:
            variants = ", ".join(f"{v['name']}={v['deployment']}:{v['weight']:g}" for v in e["variants"])
            t.add_row(
                e["name"],
                e["surface"],
                e["status"],
                variants,
                str(e["started_at"] or "-"),
                str(e["stopped_at"] or "-"),
            )
        console.print(t)

    render(items, output, table)


@app.command("get")
def get(
    tenant_id: str,
    name: str,
    output: OutputOpt = Output.json,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Show one experiment (JSON by default)."""
    with reported_errors(), client(url, token) as c:
        render(c.get(f"/v1/tenants/{tenant_id}/experiments/{name}"), output, _show)


@app.command("update")
def update(
    tenant_id: str,
    name: str,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant", help="Replace the variants (drafts only): name=deployment[:weight], repeat."
        ),
    ] = None,
    surface: Annotated[str | None, typer.Option(help="Where the lists are shown (drafts only).")] = None,
    window: Annotated[
        int | None, typer.Option("--window", help="Click attribution window (seconds).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Change only what is given: variants and surface of a draft, the window until it stops."""
    with reported_errors():
        body: dict[str, Any] = {}
        if variant:
            body["variants"] = [parse_variant(v) for v in variant]
        if surface is not None:
            body["surface"] = surface
        if window is not None:
            body["attribution_window_seconds"] = window
        if not body:
            raise typer.BadParameter("nothing to change: give --variant, --surface or --window")
        with client(url, token) as c:
            _show(c.patch(f"/v1/tenants/{tenant_id}/experiments/{name}", json=body))


@app.command("delete")
def delete(
    tenant_id: str,
    name: str,
    yes: YesOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Delete a draft or stopped experiment and its results (stop a running one first)."""
    confirm(f"Delete experiment {name} of {tenant_id} and its results?", yes)
    with reported_errors(), client(url, token) as c:
        c.delete(f"/v1/tenants/{tenant_id}/experiments/{name}")
    console.print(f"experiment/{name} deleted")


@app.command("start")
def start(tenant_id: str, name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = DEFAULT_DEV_TOKEN) -> None:
    """Start routing traffic by the variants' weights."""
    with reported_errors(), client(url, token) as c:
        _show(c.post(f"/v1/tenants/{tenant_id}/experiments/{name}/start"))


@app.command("stop")
def stop(tenant_id: str, name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = DEFAULT_DEV_TOKEN) -> None:
    """Stop the experiment (its results stay)."""
    with reported_errors(), client(url, token) as c:
        _show(c.post(f"/v1/tenants/{tenant_id}/experiments/{name}/stop"))


@app.command("results")
def results(
    tenant_id: str,
    name: str,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Impressions, clicks, CTR with a 95% interval, and the p-value against the control."""
    with reported_errors(), client(url, token) as c:
        res = c.get(f"/v1/tenants/{tenant_id}/experiments/{name}/results")
    render(res, output, _results_table)


def _results_table(res: dict[str, Any]) -> None:
    table = Table(
        "variant", "deployment", "impressions", "clicks", "CTR", "95% CI", "lift", "p-value", "significant",
        title=f"{res['experiment']} ({res['status']}), control: {res['control']}",
    )  # fmt: skip
    for v in res["variants"]:
        table.add_row(
            v["variant"],
            v["deployment"],
            str(v["impressions"]),
            str(v["clicks"]),
            f"{v['ctr']:.2%}",
            f"{v['ctr_ci_low']:.2%} - {v['ctr_ci_high']:.2%}",
            "-" if v["lift"] is None else f"{v['lift']:+.1%}",
            "-" if v["p_value"] is None else f"{v['p_value']:.4f}",
            "-" if v["is_control"] else ("yes" if v["significant"] else "no"),
        )
    console.print(table)
