#!/usr/bin/env bash
# Set up and start the embedded platform on this machine: one command, no cluster needed.
#   scripts/up.sh            # serve until Ctrl-C
#   scripts/up.sh --once     # set up, print the summary, exit
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec .venv/bin/recsys up "$@"
