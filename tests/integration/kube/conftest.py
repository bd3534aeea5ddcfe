"""Fixtures of the tests against the real Kubernetes API server (``start.sh kube``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import START_HINT, _require
from tests.kube import ROOT, Helm, Kube


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    kubeconfig = _require("RECSYS_TEST_KUBECONFIG", "Kubernetes API server")
    try:
        k = Kube(kubeconfig)
        assert k.ready()
        k.custom.list_cluster_custom_object("serving.kserve.io", "v1beta1", "inferenceservices", limit=1)
    except Exception as exc:
        pytest.fail(
            f"Kubernetes API server from {kubeconfig} is not ready or lacks the KServe CRDs ({exc}); "
            f"{START_HINT}",
            pytrace=False,
        )
    yield k
    k.close()


@pytest.fixture(scope="session")
def helm(kube: Kube) -> Helm:
    script = ROOT / "scripts" / "tools" / "install-helm.sh"
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"could not build helm with {script}:\n{result.stderr}", pytrace=False)
    return Helm(result.stdout.strip().splitlines()[-1], kube.kubeconfig)
