"""``recsys keys``: a tenant's API keys."""

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

app = typer.Typer(help="Create, list, revoke and rotate a tenant's API keys.", no_args_is_help=True)


@app.command("create")
def create(
    tenant_id: str,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="events:write, recommendations:read, admin (repeat).")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="text, or key: only the secret (for $(...)), or json.")
    ] = "text",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Create a key; the secret is printed once."""
    if output not in ("text", "key", "json"):
        raise typer.BadParameter("one of text, key, json", param_hint="--output")
    with reported_errors(), client(url, token) as c:
        key = c.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": name, "scopes": scope})
    if output == "key":
        typer.echo(key["key"])
        return
    if output == "json":
        render(key, Output.json, print_json)
        return
    console.print(f"{key['id']}  {key['key']}  (shown once; store it now)")


@app.command("list")
def list_keys(
    tenant_id: str,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """List keys by prefix (secrets are never shown again)."""
    with reported_errors(), client(url, token) as c:
        items = all_items(c, f"/v1/tenants/{tenant_id}/api-keys")

    def table(items: list[dict[str, Any]]) -> None:
        t = Table("id", "name", "prefix", "scopes", "status", "last used")
        for k in items:
            t.add_row(
                k["id"],
                k["name"],
                k["prefix"],
                ",".join(k["scopes"]),
                k["status"],
                str(k["last_used_at"] or "-"),
            )
        console.print(t)

    render(items, output, table)


@app.command("revoke")
def revoke(
    tenant_id: str,
    key_id: str,
    yes: YesOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Revoke a key now."""
    confirm(f"Revoke key {key_id} of {tenant_id}? Callers using it are refused at once.", yes)
    with reported_errors(), client(url, token) as c:
        key = c.delete(f"/v1/tenants/{tenant_id}/api-keys/{key_id}")
    console.print(f"{key['id']} {key['status']}")


@app.command("rotate")
def rotate(
    tenant_id: str, key_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = DEFAULT_DEV_TOKEN
) -> None:
    """Replace a key with a new secret (same name and scopes); the old one stops working."""
    with reported_errors(), client(url, token) as c:
        key = c.post(f"/v1/tenants/{tenant_id}/api-keys/{key_id}/rotate")
    console.print(f"{key['id']}  {key['key']}  (shown once; store it now)")
