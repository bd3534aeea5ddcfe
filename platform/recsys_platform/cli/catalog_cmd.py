"""``recsys catalog``: import items from JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys_platform.catalog.schemas import MAX_BATCH
from recsys_platform.cli.common import (
    DEFAULT_DEV_TOKEN,
    DEFAULT_URL,
    TokenOpt,
    UrlOpt,
    client,
    console,
    err_console,
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
            raise typer.Exit(1) from None
    with reported_errors(), client(url, token) as c:
        totals = import_items(c, tenant_id, items)
    console.print(f"created {totals['created']}, updated {totals['updated']}, rejected {totals['rejected']}")
    if totals["rejected"]:
        raise typer.Exit(2)
