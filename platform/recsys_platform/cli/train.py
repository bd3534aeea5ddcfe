"""``recsys train`` (trigger a run, follow its stages) and ``recsys models`` (list, promote, rollback)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recsys_platform.cli.common import (
    DEFAULT_DEV_TOKEN,
    DEFAULT_URL,
    EXIT_TIMEOUT,
    Output,
    OutputOpt,
    TokenOpt,
    UrlOpt,
    client,
    console,
    err_console,
    render,
    reported_errors,
)

STAGES = ("load_data", "train", "evaluate", "register")
TenantArg = Annotated[str, typer.Argument(help="Tenant id.", show_default=False)]
models_app = typer.Typer(
    help="Registered model versions of a tenant: list, promote, roll back.", no_args_is_help=True
)


def _stage_line(stage: str, current: str | None, status: str) -> str:
    order = STAGES.index(current) if current in STAGES else -1
    index = STAGES.index(stage)
    if status == "succeeded" or index < order:
        return f"[green]✓[/green] {stage}"
    if index == order:
        return f"[red]✗[/red] {stage}" if status == "failed" else f"[yellow]…[/yellow] {stage}"
    return f"[dim]· {stage}[/dim]"


def _render(run: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row(f"run [bold]{run['id']}[/bold]", f"status: {run['status']}")
    for stage in STAGES:
        table.add_row(_stage_line(stage, run.get("stage"), run["status"]), "")
    return table


def _summary(run: dict[str, Any]) -> None:
    if run["status"] == "failed":
        err_console.print(f"[red]training failed[/red] at {run.get('stage') or 'start'}: {run.get('error')}")
        raise typer.Exit(1)
    verdict = "promoted to champion" if run["promoted"] else "kept as challenger"
    console.print(f"model version [bold]{run['model_version']}[/bold] registered, {verdict}")
    if run.get("gate", {}).get("reason"):
        console.print(f"gate: {run['gate']['reason']}")
    metrics = run.get("metrics") or {}
    shown = {k: v for k, v in metrics.items() if k.endswith("_at_10") and not k.startswith("cold_")}
    if shown:
        console.print("  ".join(f"{k}={v:.4f}" for k, v in sorted(shown.items())))


def train(
    tenant: TenantArg,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run until it ends.")] = True,
    params: Annotated[
        Path | None,
        typer.Option(
            "--params", exists=True, help="JSON file with run params (holdout_fraction, model, ...)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Give up waiting after this many seconds.")
    ] = 3600.0,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Train the tenant's model now: load data, train, evaluate against the champion, register."""
    from rich.live import Live

    body = {"params": json.loads(params.read_text())} if params else {}
    with reported_errors(), client(url, token) as c:
        run = c.post(f"/v1/tenants/{tenant}/training-runs", json=body)
        console.print(f"training run {run['id']} queued for tenant {tenant}")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        with Live(_render(run), console=console, refresh_per_second=4, transient=False) as live:
            while run["status"] not in ("succeeded", "failed"):
                if time.monotonic() > deadline:
                    err_console.print(f"still {run['status']} after {timeout:.0f}s; it keeps running")
                    raise typer.Exit(EXIT_TIMEOUT)
                time.sleep(0.5)
                run = c.get(f"/v1/tenants/{tenant}/training-runs/{run['id']}")
                live.update(_render(run))
    _summary(run)


@models_app.command("list")
def list_models(
    tenant: TenantArg,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Versions (newest first) with aliases and ndcg@10."""
    with reported_errors(), client(url, token) as c:
        body = c.get(f"/v1/tenants/{tenant}/models")

    def table(body: dict[str, Any]) -> None:
        t = Table(
            "version", "aliases", "ndcg@10", "recall@10", "training run", title=body["registered_model"]
        )
        for v in body["items"]:
            m = v["metrics"]
            t.add_row(
                v["version"],
                ", ".join(v["aliases"]),
                f"{m['ndcg_at_10']:.4f}" if "ndcg_at_10" in m else "",
                f"{m['recall_at_10']:.4f}" if "recall_at_10" in m else "",
                v["tags"].get("recsys.training_run_id", ""),
            )
        console.print(t)

    render(body, output, table)


@models_app.command("promote")
def promote(
    tenant: TenantArg,
    version: Annotated[str, typer.Argument(help="Version number to make champion.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Make a version the champion (no gate)."""
    with reported_errors(), client(url, token) as c:
        body = c.post(f"/v1/tenants/{tenant}/models/champion", json={"version": version})
    console.print(f"champion of {tenant} is now version {body['version']}")


@models_app.command("rollback")
def rollback(tenant: TenantArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = DEFAULT_DEV_TOKEN) -> None:
    """Move champion back to the previous champion version."""
    with reported_errors(), client(url, token) as c:
        body = c.post(f"/v1/tenants/{tenant}/models/champion/rollback")
    console.print(f"champion of {tenant} rolled back to version {body['version']}")
