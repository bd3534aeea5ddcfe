"""``recsys config``: named contexts (control-plane URL, token, gateway URL) in a config
file, like kubectl's. ``--url``/``--token`` flags and ``RECSYS_URL``/``RECSYS_TOKEN`` win over
the current context; without either, the embedded platform's defaults apply.

The file is ``$RECSYS_CONFIG``, else ``$XDG_CONFIG_HOME/recsys/config.yaml`` (default
``~/.config/recsys/config.yaml``), written with mode 0600 (it holds tokens).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

app = typer.Typer(help="Contexts: which platform (URL, token) commands talk to.", no_args_is_help=True)


def config_path() -> Path:
    explicit = os.environ.get("RECSYS_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "recsys" / "config.yaml"


def load() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {"current-context": None, "contexts": {}}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("contexts", {}), dict):
        raise typer.BadParameter(f"{path} is not a recsys config (expected contexts: {{name: {{...}}}})")
    data.setdefault("contexts", {})
    return data


def save(data: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)


def current() -> dict[str, Any]:
    """The current context's settings ({} without one)."""
    data = load()
    name = data.get("current-context")
    context: dict[str, Any] = data["contexts"].get(name, {}) if name else {}
    return context


@app.command("set-context")
def set_context(
    name: str,
    url: Annotated[str | None, typer.Option("--url", help="Control-plane URL.")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Admin token or tenant key.")] = None,
    gateway_url: Annotated[str | None, typer.Option("--gateway-url", help="Gateway URL.")] = None,
) -> None:
    """Create or change a context (only the given fields change)."""
    data = load()
    context = data["contexts"].setdefault(name, {})
    for key, value in (("url", url), ("token", token), ("gateway_url", gateway_url)):
        if value is not None:
            context[key] = value
    if data.get("current-context") is None:
        data["current-context"] = name
    save(data)
    typer.echo(f"context/{name} saved in {config_path()}")


@app.command("use-context")
def use_context(name: str) -> None:
    """Make NAME the current context."""
    data = load()
    if name not in data["contexts"]:
        known = ", ".join(sorted(data["contexts"])) or "none"
        raise typer.BadParameter(f"no context {name!r} (known: {known})", param_hint="NAME")
    data["current-context"] = name
    save(data)
    typer.echo(f"switched to context/{name}")


@app.command("current-context")
def current_context() -> None:
    """Print the current context's name."""
    name = load().get("current-context")
    if not name:
        typer.echo("no current context (recsys config set-context NAME --url ...)", err=True)
        raise typer.Exit(1)
    typer.echo(name)


@app.command("get-contexts")
def get_contexts() -> None:
    """List contexts (tokens are not shown)."""
    data = load()
    table = Table("current", "name", "url", "gateway url", "token")
    for name, ctx in data["contexts"].items():
        table.add_row(
            "*" if name == data.get("current-context") else "",
            name,
            ctx.get("url", "-"),
            ctx.get("gateway_url", "-"),
            "set" if ctx.get("token") else "-",
        )
    from recsys_platform.cli.common import console

    console.print(table)


@app.command("delete-context")
def delete_context(name: str) -> None:
    """Remove a context."""
    data = load()
    if data["contexts"].pop(name, None) is None:
        raise typer.BadParameter(f"no context {name!r}", param_hint="NAME")
    if data.get("current-context") == name:
        data["current-context"] = None
    save(data)
    typer.echo(f"context/{name} deleted")
