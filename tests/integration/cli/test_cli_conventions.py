"""CLI conventions against a live control plane: ``-o table|json|yaml``, contexts in a config
file, ``--version``, completion, exit codes (0 done, 1 refused/failed, 2 usage, 3 unreachable),
connection errors naming the URL, confirmation before destructive commands."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from recsys_platform import __version__
from recsys_platform.cli.main import app
from recsys_platform.control_plane.app import create_app
from recsys_platform.settings import ControlPlaneSettings
from typer.testing import CliRunner

from tests.factories import ADMIN_TOKEN
from tests.live_server import serve

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cp') / 'cp.db'}"
    settings = ControlPlaneSettings(
        admin_token=ADMIN_TOKEN, database={"url": url}, training={"enabled": False}
    )
    with serve(create_app(settings, provisioners=[])) as b:
        yield b


@pytest.fixture
def recsys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.delenv("RECSYS_URL", raising=False)
    monkeypatch.delenv("RECSYS_TOKEN", raising=False)
    monkeypatch.setenv("RECSYS_CONFIG", str(tmp_path / "config.yaml"))
    yield CliRunner()


def run(
    runner: CliRunner, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})}, input=input)
    return result.exit_code, ANSI.sub("", result.output)


def test_version_and_completion(recsys: CliRunner) -> None:
    assert run(recsys, "--version") == (0, f"recsys {__version__}\n")
    code, script = run(recsys, "--show-completion", "bash")
    assert code == 0 and "_recsys_completion" in script


def test_contexts_outputs_and_exit_codes(recsys: CliRunner, base: str, tmp_path: Path) -> None:
    # no context yet: the embedded default URL, which nothing serves here -> 3 naming the URL
    code, out = run(recsys, "tenants", "list", "--url", "http://127.0.0.1:1")
    assert code == 3 and "http://127.0.0.1:1" in out and "recsys up" in out

    assert run(recsys, "config", "set-context", "dev", "--url", base, "--token", ADMIN_TOKEN)[0] == 0
    assert run(recsys, "config", "set-context", "other", "--url", "http://127.0.0.1:1")[0] == 0
    config = tmp_path / "config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert run(recsys, "config", "current-context") == (0, "dev\n")
    code, contexts = run(recsys, "config", "get-contexts")
    assert code == 0 and ADMIN_TOKEN not in contexts and "other" in contexts

    tenant = {"id": "shop-a", "display_name": "Shop A", "use_case": "ecommerce"}
    spec = tmp_path / "shop.yaml"
    spec.write_text(yaml.safe_dump({"apiVersion": "recsys.dev/v1", "kind": "Tenant", **tenant}))
    code, out = run(recsys, "tenants", "apply", "-f", str(spec))
    assert code == 0, out

    code, out = run(recsys, "tenants", "list", "-o", "json")
    assert code == 0, out
    listed = json.loads(out)
    assert [t["id"] for t in listed] == [tenant["id"]] and listed[0]["use_case"] == "ecommerce"
    code, out = run(recsys, "tenants", "get", "shop-a", "-o", "yaml")
    assert code == 0 and yaml.safe_load(out)["display_name"] == "Shop A"
    code, out = run(recsys, "tenants", "list")
    assert code == 0 and "shop-a" in out and "Shop A" in out  # the table

    items = tmp_path / "items.jsonl"
    items.write_text('{"item_id": "sku-1", "title": "Red shoe"}\n{"item_id": "bad id"}\n')
    code, out = run(recsys, "catalog", "import", "shop-a", str(items))
    assert code == 1 and "created 1" in out and "rejected 1" in out  # partly refused: 1, not 2
    code, out = run(recsys, "catalog", "list", "shop-a", "-o", "json")
    assert code == 0 and [i["item_id"] for i in json.loads(out)] == ["sku-1"]

    code, out = run(recsys, "tenants", "get", "no-such-tenant")
    assert code == 1 and "not found" in out.lower()
    assert run(recsys, "tenants", "list", "-o", "xml")[0] == 2
    assert run(recsys, "deployments", "update", "shop-a", "default")[0] == 2  # nothing to change

    code, out = run(recsys, "catalog", "delete", "shop-a", "sku-1")
    assert code == 2 and "--yes" in out
    assert run(recsys, "catalog", "get", "shop-a", "sku-1")[0] == 0
    code, out = run(recsys, "catalog", "delete", "shop-a", "sku-1", input="n\n")
    assert code == 2  # no terminal: refused, whatever stdin says
    assert run(recsys, "catalog", "delete", "shop-a", "sku-1", "--yes")[0] == 0
    assert run(recsys, "catalog", "get", "shop-a", "sku-1")[0] == 1

    assert run(recsys, "config", "use-context", "other")[0] == 0
    code, out = run(recsys, "tenants", "list")
    assert code == 3 and "http://127.0.0.1:1" in out  # the context's URL
    code, out = run(recsys, "tenants", "list", "--url", base, "-o", "json", env={"RECSYS_TOKEN": ADMIN_TOKEN})
    assert code == 0 and len(json.loads(out)) == 1  # flags win over the context
    assert run(recsys, "config", "use-context", "nope")[0] == 2
