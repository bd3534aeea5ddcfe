#!/usr/bin/env bash
# Install kube-apiserver into <repo>/.cache/bin by building it from the k8s.io/kubernetes Go
# module at a pinned version (there is no Debian package; `go install ...@version` is refused
# because the module's go.mod has replace directives). Idempotent: does nothing when the
# cached binary already reports that version.
#
# How: download the module (go mod download), copy it into a writable folder, delete
# go.work/go.work.sum, drop the `replace ( ... )` block of go.mod and turn every exact
# `k8s.io/<staging> v0.0.0` requirement into the published v0.<minor>.<patch> (pseudo-versions
# are left alone), then `go build ./cmd/kube-apiserver` as the main module.
# A cold build is ~6 min of CPU on 2 idle cores (plus module downloads); the binary is ~146 MB.
# Prints the path of the binary on stdout (progress goes to stderr).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${REPO_ROOT}/.cache/bin"
BIN="${BIN_DIR}/kube-apiserver"

installed_version() {
    # `kube-apiserver --version` prints "Kubernetes v1.34.4"
    "${BIN}" --version 2>/dev/null | awk '{print $2}' || true
}

if [[ -x "${BIN}" && "$(installed_version)" == "${KUBE_VERSION}" ]]; then
    echo "kube-apiserver ${KUBE_VERSION} already installed" >&2
    echo "${BIN}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-kube-apiserver.sh: Go is required to build kube-apiserver ${KUBE_VERSION}" >&2
    exit 1
fi

staging_version="v0.${KUBE_VERSION#v1.}"    # v1.34.4 -> v0.34.4
mkdir -p "${BIN_DIR}"
start=$(date +%s)
echo "downloading k8s.io/kubernetes@${KUBE_VERSION} ..." >&2
moddir="$(cd /tmp && GOFLAGS=-mod=mod GOWORK=off go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "${moddir}" && -f "${moddir}/go.mod" ]] || {
    echo "install-kube-apiserver.sh: could not download k8s.io/kubernetes@${KUBE_VERSION}" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")"
trap 'chmod -R u+w "${work}" 2>/dev/null; rm -rf "${work}"' EXIT
cp -r "${moddir}/." "${work}/src"
chmod -R u+w "${work}/src"
cd "${work}/src"
rm -f go.work go.work.sum
# drop the replace ( ... ) block and pin staging modules to the published version
awk -v ver="${staging_version}" '
    /^replace \($/ { skip = 1; next }
    skip && /^\)$/ { skip = 0; next }
    skip { next }
    /^replace / { next }
    { if ($1 ~ /^k8s\.io\// && $2 == "v0.0.0") { sub(/v0\.0\.0$/, ver) } print }
' go.mod > go.mod.new
mv go.mod.new go.mod
echo "building kube-apiserver ${KUBE_VERSION} with $(go version) (cold builds take minutes)..." >&2
# Stamp the version like the Kubernetes build does (else --version says v0.0.0-master).
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1"
    ldflags+=" -X ${pkg}.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2)"
    ldflags+=" -X ${pkg}.gitTreeState=clean"
done
GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" \
    -o "${BIN}.tmp" ./cmd/kube-apiserver
mv "${BIN}.tmp" "${BIN}"
echo "built in $(( $(date +%s) - start ))s" >&2

got="$(installed_version)"
if [[ "${got}" != "${KUBE_VERSION}" ]]; then
    echo "install-kube-apiserver.sh: built kube-apiserver reports version '${got}', expected ${KUBE_VERSION}" >&2
    exit 1
fi
echo "${BIN}"
