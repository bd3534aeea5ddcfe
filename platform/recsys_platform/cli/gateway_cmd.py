"""``recsys recommend`` and ``recsys events``: call the gateway with a tenant API key, the way
an application does (through ``recsys-client``: batching, retries, problem details)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from recsys_client import GatewayClient
from rich.table import Table

from recsys_platform.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    Output,
    OutputOpt,
    console,
    err_console,
    render,
    reported_errors,
)

events_app = typer.Typer(help="Send user events to the gateway (a tenant API key).", no_args_is_help=True)

GatewayUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway-url",
        envvar="RECSYS_GATEWAY_URL",
        help="Gateway base URL (default: the current context's, else http://127.0.0.1:8080).",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str,
    typer.Option(
        "--key",
        envvar="RECSYS_API_KEY",
        help="The tenant's API key (env RECSYS_API_KEY).",
        show_default=False,
    ),
]
EMBEDDED_GATEWAY = "http://127.0.0.1:8080"


@contextmanager
def gateway(url: str | None, key: str) -> Iterator[GatewayClient]:
    from recsys_platform.cli import config_cmd

    base = url or config_cmd.current().get("gateway_url") or EMBEDDED_GATEWAY
    with GatewayClient(base, key) as client:
        yield client


def recommend(
    user_id: Annotated[str, typer.Argument(help="The user to recommend for.")],
    n: Annotated[int, typer.Option("-n", min=1, max=100, help="How many items.")] = 10,
    surface: Annotated[str, typer.Option(help="Where the list is shown (A/B experiments).")] = "default",
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Item to leave out (repeat).")
    ] = None,
    output: OutputOpt = Output.table,
    key: KeyOpt = "",
    gateway_url: GatewayUrlOpt = None,
) -> None:
    """Ask the gateway for a user's list, as an application would."""
    filters = {"exclude_items": exclude} if exclude else None
    with reported_errors(), gateway(gateway_url, key) as gw:
        answer = gw.recommend(user_id, n, surface=surface, filters=filters).model_dump(mode="json")

    def table(answer: dict[str, Any]) -> None:
        source = "popularity fallback" if answer["fallback"] else f"model version {answer['model_version']}"
        variant = f", variant {answer['variant']}" if answer["variant"] else ""
        t = Table("#", "item", "score", "reason", title=f"{user_id}: {source}{variant}")
        for item in answer["items"]:
            t.add_row(str(item["position"]), item["item_id"], f"{item['score']:.4f}", item["reason"])
        console.print(t)

    render(answer, output, table)


@events_app.command("send")
def send(
    file: Annotated[Path, typer.Argument(exists=True, help="JSON Lines, one event per line.")],
    key: KeyOpt = "",
    gateway_url: GatewayUrlOpt = None,
) -> None:
    """Send events from a file in batches of 1,000; rejected ones are listed with the reason."""
    events: list[Any] = []
    for n, line in enumerate(file.read_text().splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                err_console.print(f"[red]error:[/red] {file}:{n}: malformed JSON: {exc}")
                raise typer.Exit(EXIT_USAGE) from None
    with reported_errors(), gateway(gateway_url, key) as gw:
        result = gw.send_events(events)
    for r in result.results:
        if r.status != "accepted":
            reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in r.errors)
            err_console.print(f"  event {r.index} ({r.event_id}): {r.status}: {reasons}")
    console.print(f"accepted {result.accepted}, rejected {result.rejected}, unavailable {result.unavailable}")
    if result.rejected or result.unavailable:
        raise typer.Exit(EXIT_FAILED)


@events_app.command("track")
def track(
    user_id: str,
    item_id: str,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="click, view, purchase, rating, ...")],
    value: Annotated[float | None, typer.Option("--value", help="Rating or watch seconds.")] = None,
    key: KeyOpt = "",
    gateway_url: GatewayUrlOpt = None,
) -> None:
    """Send one event now (a fresh event id and the current time)."""
    with reported_errors(), gateway(gateway_url, key) as gw:
        result = gw.track(user_id, item_id, event_type, value=value)  # type: ignore[arg-type]
    if result.status != "accepted":
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in result.errors)
        err_console.print(f"[red]error:[/red] {reasons}")
        raise typer.Exit(EXIT_FAILED)
    console.print(f"event {result.event_id} accepted")
