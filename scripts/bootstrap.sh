#!/usr/bin/env bash
# Create .venv and install the pinned environment (requirements.lock) plus this project.
# Idempotent: skips pip when requirements.lock and pyproject.toml are unchanged.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [[ -z "$PYTHON" ]]; then
  echo "[bootstrap] Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "[bootstrap] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=".venv/.recsys-installed"
want="$(cat requirements.lock pyproject.toml clients/python/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "[bootstrap] environment up to date"
  exit 0
fi
echo "[bootstrap] installing pinned dependencies (requirements.lock); a cold install takes a few minutes"
start=$SECONDS
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --upgrade "pip==26.3"
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e clients/python
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check
echo "$want" > "$stamp"
echo "[bootstrap] installed in $((SECONDS - start)) s"
