"""Options and helpers shared by the client commands.

Exit codes (the same for every command): 0 done; 1 the platform refused or failed the request
(an API error, rejected records, a failed training run); 2 usage error (a bad option,
argument or input file; Click's own code); 3 the platform could not be reached; 4 a wait timed out (the
operation goes on, e.g. a training run still running).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from recsys_platform.client import ApiError, ConnectionFailed, ControlPlaneClient
from recsys_platform.errors import RecsysError

console = Console()
err_console = Console(stderr=True)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="RECSYS_URL",
        help="Control-plane base URL (default: the current context's, else http://127.0.0.1:8000).",
        show_default=False,
    ),
]
DEFAULT_URL: str | None = None
DEFAULT_DEV_TOKEN: str | None = None
EMBEDDED_URL = "http://127.0.0.1:8000"
EMBEDDED_TOKEN = "dev-admin-token"
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


def resolve_token(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """Where the token comes from, most explicit first: ``--token @FILE`` or ``--token VALUE``,
    ``RECSYS_TOKEN``, the file named by ``RECSYS_TOKEN_FILE``; None lets the current context (or
    the development default) answer.

    A literal ``--token VALUE`` works but is visible to every local user in the process list,
    so it prints a warning; prefer the environment or a file.
    """
    # by name: typer may ship its own copy of click's ParameterSource
    source = getattr(ctx.get_parameter_source(param.name or "token"), "name", None)
    if value is None:
        env_file = os.environ.get(TOKEN_FILE_ENV)
        return read_token_file(env_file) if env_file else None
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
    str | None,
    typer.Option(
        "--token",
        envvar="RECSYS_TOKEN",
        help="Platform admin token or a tenant API key: better from env RECSYS_TOKEN, a file named "
        "by RECSYS_TOKEN_FILE, --token @FILE or the current context (a literal value shows in the "
        "process list).",
        show_default=False,
        callback=resolve_token,
    ),
]


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="table (for people), json or yaml (for scripts).")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def resolve(url: str | None, token: str | None) -> tuple[str, str]:
    """Flag or environment, else the current context, else the embedded platform's defaults."""
    from recsys_platform.cli import config_cmd

    context = config_cmd.current() if url is None or token is None else {}
    return url or context.get("url") or EMBEDDED_URL, token or context.get("token") or EMBEDDED_TOKEN


@contextmanager
def client(url: str | None, token: str | None) -> Iterator[ControlPlaneClient]:
    c = ControlPlaneClient(*resolve(url, token))
    try:
        yield c
    finally:
        c.close()


def all_items(c: ControlPlaneClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, as the API sent them (following ``next_cursor``)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = c.get(path, params={**params, "limit": 1000, "cursor": cursor})
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def render(data: Any, output: Output, table: Callable[[Any], None]) -> None:
    """Print a read command's answer: ``table`` draws it for people; json/yaml print it whole."""
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2, default=str))
    elif output is Output.yaml:
        typer.echo(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False).rstrip())
    else:
        table(data)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive command (``--yes`` skips; no terminal and no ``--yes``: refuse)."""
    if yes:
        return
    if not typer.get_text_stream("stdin").isatty():
        err_console.print(f"[red]error:[/red] {question} Refusing without --yes (no terminal to ask).")
        raise typer.Exit(EXIT_USAGE)
    typer.confirm(question, abort=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print API and domain errors as one readable block and exit non-zero."""
    try:
        yield
    except ApiError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        for e in exc.problem.errors or []:
            err_console.print(f"  - {e.field}: {e.reason}")
        raise typer.Exit(EXIT_FAILED) from None
    except ConnectionFailed as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except RecsysError as exc:
        err_console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(EXIT_FAILED) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
