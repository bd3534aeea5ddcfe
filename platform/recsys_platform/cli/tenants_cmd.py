"""``recsys tenants``: apply specs, list, get, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
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

app = typer.Typer(help="Onboard and manage tenants.", no_args_is_help=True)


@app.command("apply")
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, help="Tenant YAML file or folder.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; change nothing.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Create or update tenants from `kind: Tenant` YAML (idempotent, like kubectl apply)."""
    from recsys_platform.tenancy.spec import execute, load_specs, plan

    with reported_errors(), client(url, token) as c:
        specs = load_specs(file)
        for spec in specs:
            p = plan(c, spec)
            if not p.changes:
                console.print(f"tenant/{spec.id} unchanged")
                continue
            if p.diff:
                console.print(Syntax(p.diff, "diff", theme="ansi_dark", background_color="default"))
            for key in p.keys_to_create:
                console.print(f"  + api key '{key.name}' scopes={key.scopes}")
            for _, key in p.keys_to_replace:
                console.print(f"  ~ api key '{key.name}' scopes -> {key.scopes} (new key, old revoked)")
            if dry_run:
                console.print(f"tenant/{spec.id} would be {p.action}d (dry run)")
                continue
            result = execute(c, spec, p)
            verb = {"create": "created", "update": "configured", "unchanged": "keys updated"}[p.action]
            console.print(f"tenant/{spec.id} {verb}")
            for created in result.created_keys:
                console.print(
                    f"  api key '{created['name']}' ({', '.join(created['scopes'])}): "
                    f"[bold]{created['key']}[/bold]  (shown once; store it now)"
                )


@app.command("list")
def list_tenants(
    include_deleted: Annotated[bool, typer.Option("--include-deleted")] = False,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """List tenants."""
    with reported_errors(), client(url, token) as c:
        items = all_items(c, "/v1/tenants", include_deleted=include_deleted)

    def table(items: list[dict[str, Any]]) -> None:
        t = Table("id", "display name", "use case", "status", "resources")
        for row in items:
            t.add_row(
                row["id"], row["display_name"], row["use_case"], row["status"], str(len(row["resources"]))
            )
        console.print(t)

    render(items, output, table)


@app.command("get")
def get_tenant(
    tenant_id: str,
    output: OutputOpt = Output.json,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Show one tenant (JSON by default)."""
    with reported_errors(), client(url, token) as c:
        render(c.get(f"/v1/tenants/{tenant_id}"), output, print_json)


@app.command("delete")
def delete_tenant(
    tenant_id: str,
    yes: YesOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Delete a tenant: keys stop at once, then its topics, catalog and other resources go."""
    confirm(f"Delete tenant {tenant_id} and purge its data?", yes)
    with reported_errors(), client(url, token) as c:
        result = c.delete(f"/v1/tenants/{tenant_id}")
    console.print(f"tenant/{tenant_id} {result['status']}")
