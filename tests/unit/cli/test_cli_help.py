"""Every ``recsys`` command answers ``--help``; discovered from the app, so new commands are covered."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pytest
import typer.main
from recsys_platform import __version__
from recsys_platform.cli.main import app
from typer.testing import CliRunner

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(output: str) -> str:
    """Output without colour codes (FORCE_COLOR may be set) and with whitespace collapsed."""
    return " ".join(ANSI.sub("", output).split())


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """``path`` and the paths of all its sub-commands, depth first.

    Groups are recognised by their ``commands`` mapping rather than by class: typer
    vendors its own copy of click, so its groups are not ``click.Group`` instances.
    """
    paths = [path]
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        paths.extend(command_paths(sub, (*path, name)))
    return paths


def is_group(path: tuple[str, ...]) -> bool:
    return any(p[: len(path)] == path and len(p) > len(path) for p in ALL_PATHS)


ALL_PATHS = command_paths(typer.main.get_command(app))
GROUP_PATHS = [p for p in ALL_PATHS if is_group(p)]


def test_discovery_finds_the_known_commands() -> None:
    names = {" ".join(p) for p in ALL_PATHS}
    assert {"", "up", "version", "tenants apply", "keys create", "catalog import", "db upgrade"} <= names


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: " ".join(p) or "recsys")
def test_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: {' '.join(['recsys', *path])}" in plain(result.output)


@pytest.mark.parametrize("path", GROUP_PATHS, ids=lambda p: " ".join(p) or "recsys")
def test_group_without_a_command_shows_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, list(path))
    assert "Usage:" in plain(result.output)
    assert "Commands" in plain(result.output)


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == __version__
    assert __version__ == dist_version("recsys")


def test_unknown_command_fails() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code != 0


def test_installed_console_script() -> None:
    script = Path(sys.executable).parent / "recsys"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage: recsys" in plain(result.stdout)
    assert "tenants" in result.stdout
