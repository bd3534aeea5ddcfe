"""Options and helpers shared by the client commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from recsys_platform.client import ApiError, ControlPlaneClient
from recsys_platform.errors import RecsysError

console = Console()
err_console = Console(stderr=True)

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="RECSYS_URL", help="Control-plane base URL."),
]
TokenOpt = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="RECSYS_TOKEN",
        help="Platform admin token or a tenant API key (env RECSYS_TOKEN).",
        show_default=False,
    ),
]
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DEV_TOKEN = "dev-admin-token"


@contextmanager
def client(url: str, token: str) -> Iterator[ControlPlaneClient]:
    c = ControlPlaneClient(url, token)
    try:
        yield c
    finally:
        c.close()


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print API and domain errors as one readable block and exit non-zero."""
    try:
        yield
    except ApiError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        for e in exc.problem.get("errors", []) or []:
            err_console.print(f"  - {e.get('field')}: {e.get('reason')}")
        raise typer.Exit(1) from None
    except RecsysError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
