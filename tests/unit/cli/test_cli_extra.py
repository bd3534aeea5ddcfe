"""``pip install recsys[cli]`` brings only the base dependencies: the CLI's client commands must
run with nothing else importable (no FastAPI, SQLAlchemy, MLflow, Feast, KFP, KServe, ...).

Simulated in this environment: an import hook lets through only the standard library and the
distributions the base dependencies pull in (their closure, from the installed metadata)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

HOOK = textwrap.dedent(
    """
    import importlib.abc, importlib.metadata as md, re, sys
    from packaging.requirements import Requirement

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    closure, todo = set(), list(sys.argv[1].split(","))
    while todo:
        name = norm(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        for raw in md.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    allowed = {m for m, ds in md.packages_distributions().items() if any(norm(d) in closure for d in ds)}
    allowed |= {"recsys_platform"}

    class OnlyBase(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in allowed or top.startswith("_"):
                return None
            raise ModuleNotFoundError(f"not in recsys[cli]: {name}", name=name)

    sys.meta_path.insert(0, OnlyBase())
    sys.argv = ["recsys", *sys.argv[2:]]
    from recsys_platform.cli.main import app
    app()
    """
)


def _base() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["cli"] == []
    names = [d.split(">")[0].split("<")[0].split("[")[0].split(" ")[0] for d in project["dependencies"]]
    heavy = {"mlflow", "feast", "kfp", "kserve", "fastapi", "sqlalchemy", "lightgbm", "faiss-cpu"}
    assert not heavy & set(names)
    return ",".join(names)


def _recsys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HOOK, _base(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_client_commands_run_with_the_base_dependencies_only() -> None:
    shown = _recsys("--help")
    assert shown.returncode == 0, shown.stderr
    assert "deployments" in shown.stdout
    down = _recsys("tenants", "list", "--url", "http://127.0.0.1:1")
    assert down.returncode == 3, down.stderr  # could not reach the platform
    assert "not in recsys[cli]" not in down.stderr
    assert "http://127.0.0.1:1" in down.stderr and "recsys up" in down.stderr
    manifest = _recsys("deployments", "manifest", "acme", "default", "--storage-uri", "gs://m/3")
    assert manifest.returncode == 0, manifest.stderr
    assert "storageUri: gs://m/3" in manifest.stdout
