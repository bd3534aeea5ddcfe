#!/usr/bin/env bash
# Install everything the tests need, start PostgreSQL, Redis, Kafka, MLflow and a Kubernetes
# API server (kube-apiserver + etcd, KServe CRDs) for real, run the
# linters and the whole test suite, and stop the services again.
#   scripts/test.sh                    # everything
#   scripts/test.sh tests/unit -x      # extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$SECONDS

bash scripts/bootstrap.sh
echo "[test] helm (built from its Go module into .cache/bin on first run, ~2 min cold)"
bash scripts/tools/install-helm.sh >/dev/null
echo "[test] KServe controller (built from its Go module into .cache/kserve on first run, ~4 min CPU cold)"
bash scripts/tools/install-kserve-controller.sh >/dev/null
echo "[test] services (kube-apiserver built from its Go module into .cache/bin on first run, ~6-10 min cold)"
bash scripts/services/install.sh
started_here=0
cleanup() {
  if [[ "$started_here" == 1 && "${RECSYS_KEEP_SERVICES:-0}" != 1 ]]; then
    bash scripts/services/stop.sh all || true
  fi
}
trap cleanup EXIT
started_here=1
bash scripts/services/start.sh all
# shellcheck disable=SC1091
. .cache/services/env
export OPENBLAS_NUM_THREADS=1

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] mypy (strict on recsys_platform)"
.venv/bin/mypy

echo "[test] pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
echo "[test] finished in $((SECONDS - start)) s (pytest exit $rc)"
exit $rc
