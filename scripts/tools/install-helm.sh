#!/usr/bin/env bash
# Install the Helm CLI into <repo>/.cache/bin by building it from its Go module at a
# pinned version. Idempotent: does nothing when the installed binary already reports
# that version. Needs Go (1.24+) and the Go module proxy; a cold build takes a few
# minutes (downloads and compiles Helm and the Kubernetes client libraries).
# Prints the path of the helm binary on stdout (progress goes to stderr).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${REPO_ROOT}/.cache/bin"
HELM="${BIN_DIR}/helm"

installed_version() {
    "${HELM}" version --template '{{ .Version }}' 2>/dev/null || true
}

if [[ -x "${HELM}" && "$(installed_version)" == "${HELM_VERSION}" ]]; then
    echo "helm ${HELM_VERSION} already installed" >&2
    echo "${HELM}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-helm.sh: Go is required to build helm ${HELM_VERSION} (go install)" >&2
    exit 1
fi

mkdir -p "${BIN_DIR}"
echo "building helm ${HELM_VERSION} with $(go version) (cold builds take minutes)..." >&2
start=$(date +%s)
# Stamp the full version like Helm's own Makefile does (without it `helm version` says "v3.22").
GOBIN="${BIN_DIR}" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
echo "built in $(( $(date +%s) - start ))s" >&2

got="$(installed_version)"
if [[ "${got}" != "${HELM_VERSION}" ]]; then
    echo "install-helm.sh: built helm reports version '${got}', expected ${HELM_VERSION}" >&2
    exit 1
fi
echo "${HELM}"
