"""Keep Feast's MLflow plugin out of our MLflow clients.

feast 0.67 registers an ``mlflow.request_header_provider`` entry point
(``feast.infra.data_sources.mlflow.auth``). MLflow loads every such plugin on its first
REST call, which imports all of ``feast`` (7-15 s on these machines) and, inside a pod,
would attach the pod's Kubernetes service-account token to every MLflow request. Neither
is wanted, so the registry loads MLflow's header-provider registry without that plugin.
"""

from __future__ import annotations

import sys
from typing import Any

REGISTRY_MODULE = "mlflow.tracking.request_header.registry"
GROUP = "mlflow.request_header_provider"


def load_header_providers_without_feast() -> None:
    """Import MLflow's header-provider registry, skipping entry points from the ``feast`` package.

    A no-op when the registry module is already imported (then it is too late to filter).
    """
    if REGISTRY_MODULE in sys.modules:
        return
    import mlflow.utils.plugins as plugins

    original = plugins.get_entry_points

    def filtered(group: str) -> list[Any]:
        entries = original(group)
        if group != GROUP:
            return entries
        return [e for e in entries if not str(e.value).startswith("feast.")]

    plugins.get_entry_points = filtered
    try:
        __import__(REGISTRY_MODULE)
    finally:
        plugins.get_entry_points = original
