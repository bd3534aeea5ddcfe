#!/usr/bin/env bash
# Install KServe's controller manager into <repo>/.cache/kserve/<version>/ by building it from
# the github.com/kserve/kserve Go module (as the main module: go.work removed, -mod=mod), with
# the CRDs (config/crd/full) and the inferenceservice-config ConfigMap (config/configmap) of the
# same version beside it. Idempotent: does nothing when that folder is complete.
# A cold build is ~4 min of CPU on 2 cores (plus module downloads); the binary is ~78 MB.
# Prints the folder on stdout (progress goes to stderr).
set -euo pipefail

KSERVE_VERSION="${KSERVE_VERSION:-v0.15.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${REPO_ROOT}/.cache/kserve/${KSERVE_VERSION}"

if [[ -x "${OUT}/manager" && -f "${OUT}/config/configmap/inferenceservice.yaml" && -d "${OUT}/config/crd/full" ]]; then
    echo "kserve controller ${KSERVE_VERSION} already installed" >&2
    echo "${OUT}"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "install-kserve-controller.sh: Go is required" >&2; exit 1; }

start=$(date +%s)
echo "downloading github.com/kserve/kserve@${KSERVE_VERSION} ..." >&2
moddir="$(cd /tmp && GOFLAGS=-mod=mod GOWORK=off go mod download -json "github.com/kserve/kserve@${KSERVE_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "${moddir}" && -f "${moddir}/go.mod" ]] || {
    echo "install-kserve-controller.sh: could not download github.com/kserve/kserve@${KSERVE_VERSION}" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/kserve-build.XXXXXX")"
trap 'chmod -R u+w "${work}" 2>/dev/null; rm -rf "${work}"' EXIT
cp -r "${moddir}/." "${work}/src"
chmod -R u+w "${work}/src"
cd "${work}/src"
rm -f go.work go.work.sum
echo "building the kserve controller ${KSERVE_VERSION} with $(go version) (cold builds take minutes)..." >&2
mkdir -p "${OUT}.tmp/config"
GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${OUT}.tmp/manager" ./cmd/manager
cp -r config/crd "${OUT}.tmp/config/crd"
cp -r config/configmap "${OUT}.tmp/config/configmap"
cp LICENSE "${OUT}.tmp/LICENSE"
rm -rf "${OUT}"
mv "${OUT}.tmp" "${OUT}"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "${OUT}"
