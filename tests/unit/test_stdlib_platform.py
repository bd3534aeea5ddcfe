"""Our top-level ``platform/`` folder must never shadow the standard library's ``platform``."""

from __future__ import annotations

import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
TOP_LEVEL_FOLDERS = ["platform", "pipelines", "model_servers", "tenants", "helm", "tests"]


def test_platform_in_the_test_process_is_the_stdlib_module() -> None:
    assert platform.python_version() == ".".join(str(p) for p in sys.version_info[:3])
    assert platform.__file__ is not None
    module_file = Path(platform.__file__).resolve()
    assert module_file.is_relative_to(STDLIB), module_file
    assert not module_file.is_relative_to(ROOT), module_file


def test_platform_in_a_fresh_interpreter_at_the_repo_root_is_the_stdlib_module() -> None:
    code = "import platform, uuid; print(platform.python_version()); print(platform.__file__); uuid.uuid4()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    version, module_file = result.stdout.splitlines()
    assert version == platform.python_version()
    assert Path(module_file).resolve().is_relative_to(STDLIB), module_file


@pytest.mark.parametrize("folder", TOP_LEVEL_FOLDERS)
def test_top_level_folder_is_not_a_package(folder: str) -> None:
    assert not (ROOT / folder / "__init__.py").exists(), f"{folder}/__init__.py would shadow or clash"
