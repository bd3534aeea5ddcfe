"""Where ``recsys`` commands take the token from: ``--token @FILE``, ``RECSYS_TOKEN``,
``RECSYS_TOKEN_FILE``; a literal ``--token`` (visible in the process list) warns."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from recsys_platform.cli.common import DEFAULT_DEV_TOKEN, TokenOpt, resolve
from typer.testing import CliRunner

app = typer.Typer()


@app.command()
def show(token: TokenOpt = DEFAULT_DEV_TOKEN) -> None:
    print(f"token={token}")  # noqa: T201 - the test reads it


@app.command()
def other() -> None:  # two commands: ``show`` is invoked by name like a real sub-command
    pass


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("RECSYS_TOKEN", "RECSYS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_token_sources_in_order(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("rsk_from_file\n")
    secret.chmod(0o600)
    # nothing given: the current context answers, else the development default
    assert "token=None" in runner.invoke(app, ["show"]).output
    monkeypatch.setenv("RECSYS_CONFIG", str(tmp_path / "no-config.yaml"))
    assert resolve(None, None) == ("http://127.0.0.1:8000", "dev-admin-token")
    assert (
        "token=rsk_from_file" in runner.invoke(app, ["show"], env={"RECSYS_TOKEN_FILE": str(secret)}).output
    )
    env_wins = runner.invoke(app, ["show"], env={"RECSYS_TOKEN": "rsk_env", "RECSYS_TOKEN_FILE": str(secret)})
    assert "token=rsk_env" in env_wins.output and "warning" not in env_wins.output
    at_file = runner.invoke(app, ["show", "--token", f"@{secret}"])
    assert "token=rsk_from_file" in at_file.output and "warning" not in at_file.output


def test_a_literal_token_on_the_command_line_warns(runner: CliRunner) -> None:
    result = runner.invoke(app, ["show", "--token", "rsk_literal"])
    assert "token=rsk_literal" in result.output
    assert "visible to other local users" in " ".join(result.output.split())


def test_an_unreadable_token_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["show"], env={"RECSYS_TOKEN_FILE": str(tmp_path / "missing")})
    assert result.exit_code == 2  # a usage error naming the option, not a traceback
    text = "".join(c for c in result.output if c.isalnum() or c in " '-")
    assert "--token" in text and "cannot read a token" in " ".join(text.split())
    (tmp_path / "empty").write_text("")
    assert runner.invoke(app, ["show", "--token", f"@{tmp_path / 'empty'}"]).exit_code != 0
