"""``recsys-client`` stays small: its own distribution, httpx and pydantic only, Python 3.9+."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[3] / "clients" / "python"


def test_depends_on_httpx_and_pydantic_only() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "recsys-client"
    assert project["requires-python"] == ">=3.9"
    assert sorted(d.split(">")[0].split("<")[0] for d in project["dependencies"]) == ["httpx", "pydantic"]


def test_imports_only_the_standard_library_httpx_and_pydantic() -> None:
    allowed = set(sys.stdlib_module_names) | {"httpx", "pydantic", "recsys_client"}
    seen = set()
    for path in (CLIENT / "recsys_client").glob("*.py"):
        tree = ast.parse(path.read_text(), feature_version=(3, 9))  # also: 3.9 syntax only
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                seen |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                seen.add(node.module.split(".")[0])
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
                # `X | None` in an annotation breaks pydantic on Python 3.9
                assert not _in_annotation(tree, node), f"{path.name}:{node.lineno}: use Optional/Union"
    assert seen <= allowed, seen - allowed
    assert {"httpx", "pydantic"} <= seen


def _in_annotation(tree: ast.AST, target: ast.AST) -> bool:
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations += [a.annotation for a in (*node.args.args, *node.args.kwonlyargs) if a.annotation]
            annotations += [node.returns] if node.returns else []
        if any(target is sub for a in annotations for sub in ast.walk(a)):
            return True
    return False
