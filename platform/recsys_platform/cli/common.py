"""Options and helpers shared by the client commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from recsys_platform.client import ApiError, ConnectionFailed, ControlPlaneClient
from recsys_platform.errors import RecsysError

console = Console()
err_console = Console(stderr=True)

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="RECSYS_URL", help="Control-plane base URL."),
]
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DEV_TOKEN = "dev-admin-token"
#: A file holding the token (mode 0600), read when neither ``--token`` nor ``RECSYS_TOKEN`` is given.
TOKEN_FILE_ENV = "RECSYS_TOKEN_FILE"


def read_token_file(path: str) -> str:
    """The first line of ``path``, stripped; a clear error if it cannot be read or is empty."""
    try:
        token = Path(path).expanduser().read_text().strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read a token from {path}: {exc or 'empty file'}") from None
    if not token:
        raise typer.BadParameter(f"cannot read a token from {path}: empty first line")
    return token


def resolve_token(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """Where the token comes from, most explicit first: ``--token @FILE`` or ``--token VALUE``,
    ``RECSYS_TOKEN``, the file named by ``RECSYS_TOKEN_FILE``, the development default.

    A literal ``--token VALUE`` works but is visible to every local user in the process list,
    so it prints a warning; prefer the environment or a file.
    """
    # by name: typer may ship its own copy of click's ParameterSource
    source = getattr(ctx.get_parameter_source(param.name or "token"), "name", None)
    if value.startswith("@"):
        return read_token_file(value[1:])
    if source == "COMMANDLINE":
        err_console.print(
            "[yellow]warning:[/yellow] --token on the command line is visible to other local users; "
            f"use RECSYS_TOKEN, {TOKEN_FILE_ENV} or --token @FILE"
        )
        return value
    if source in ("DEFAULT", None) and os.environ.get(TOKEN_FILE_ENV):
        return read_token_file(os.environ[TOKEN_FILE_ENV])
    return value


TokenOpt = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="RECSYS_TOKEN",
        help="Platform admin token or a tenant API key: better from env RECSYS_TOKEN, a file named "
        "by RECSYS_TOKEN_FILE, or --token @FILE (a literal value shows in the process list).",
        show_default=False,
        callback=resolve_token,
    ),
]


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
        for e in exc.problem.errors or []:
            err_console.print(f"  - {e.field}: {e.reason}")
        raise typer.Exit(1) from None
    except ConnectionFailed as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except RecsysError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
