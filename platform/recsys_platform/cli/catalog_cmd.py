"""``recsys catalog``: import items from JSON Lines; list, show and delete items."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recsys_platform.catalog.schemas import MAX_BATCH
from recsys_platform.cli.common import (
    DEFAULT_DEV_TOKEN,
    DEFAULT_URL,
    EXIT_FAILED,
    EXIT_USAGE,
    Output,
    OutputOpt,
    TokenOpt,
    UrlOpt,
    YesOpt,
    client,
    confirm,
    console,
    err_console,
    print_json,
    render,
    reported_errors,
)
from recsys_platform.client import ControlPlaneClient

app = typer.Typer(help="Manage a tenant's item catalog.", no_args_is_help=True)


def import_items(c: ControlPlaneClient, tenant_id: str, items: list[Any]) -> dict[str, int]:
    """Send items in batches of at most 10,000; return totals and print rejected records."""
    totals = {"created": 0, "updated": 0, "rejected": 0}
    for start in range(0, len(items), MAX_BATCH):
        result = c.post(
            f"/v1/tenants/{tenant_id}/catalog/items", json={"items": items[start : start + MAX_BATCH]}
        )
        for k in totals:
            totals[k] += result[k]
        for r in result["results"]:
            if r["status"] == "rejected":
                reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in r["errors"])
                err_console.print(f"  record {start + r['index']} ({r['item_id']}): {reasons}")
    return totals


@app.command("import")
def import_cmd(
    tenant_id: str,
    file: Annotated[Path, typer.Argument(exists=True, help="JSON Lines file, one item per line.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Upsert items; valid ones land even when others are rejected."""
    items: list[Any] = []
    for n, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            err_console.print(f"[red]error:[/red] {file}:{n}: malformed JSON: {exc}")
            raise typer.Exit(EXIT_USAGE) from None
    with reported_errors(), client(url, token) as c:
        totals = import_items(c, tenant_id, items)
    console.print(f"created {totals['created']}, updated {totals['updated']}, rejected {totals['rejected']}")
    if totals["rejected"]:
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_items(
    tenant_id: str,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most items to show.")] = 50,
    output: OutputOpt = Output.table,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """List items (follows pages up to --limit)."""
    with reported_errors(), client(url, token) as c:
        pages = c.iter_items(tenant_id, min(limit, 1000))
        items = [i.model_dump(mode="json") for i in itertools.islice(pages, limit)]

    def table(items: list[dict[str, Any]]) -> None:
        t = Table("item id", "title", "category", "updated")
        for i in items:
            a = i["attributes"]
            t.add_row(i["item_id"], str(a.get("title", "")), str(a.get("category", "")), str(i["updated_at"]))
        console.print(t)

    render(items, output, table)


@app.command("get")
def get_item(
    tenant_id: str,
    item_id: str,
    output: OutputOpt = Output.json,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Show one item (JSON by default)."""
    with reported_errors(), client(url, token) as c:
        render(c.get_item(tenant_id, item_id).model_dump(mode="json"), output, print_json)


@app.command("delete")
def delete_item(
    tenant_id: str,
    item_id: str,
    yes: YesOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Delete one item from the catalog."""
    confirm(f"Delete item {item_id} of {tenant_id}?", yes)
    with reported_errors(), client(url, token) as c:
        c.delete_item(tenant_id, item_id)
    console.print(f"item/{item_id} deleted")
