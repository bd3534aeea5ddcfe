"""Compile the pipelines to the committed YAML: ``python -m recsys_pipelines.compile [--check]``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"
TRAINING_YAML = COMPILED_DIR / "training_pipeline.yaml"


def compile_training(path: Path = TRAINING_YAML) -> Path:
    """Write the training pipeline's IR YAML to ``path``."""
    from kfp import compiler

    from recsys_pipelines.training_pipeline import training_pipeline

    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(training_pipeline, package_path=str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    """Compile; with ``--check``, exit 1 when the committed YAML is out of date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed YAML, write nothing")
    args = parser.parse_args(argv)
    if not args.check:
        print(compile_training())  # noqa: T201
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = compile_training(Path(tmp) / "training_pipeline.yaml").read_text()
    if not TRAINING_YAML.is_file() or TRAINING_YAML.read_text() != fresh:
        print(f"{TRAINING_YAML} is out of date: run python -m recsys_pipelines.compile")  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
