"""The real control plane and gateway as HTTP servers (uvicorn threads) for the security suites.

Both share a PostgreSQL database and an embedded event log; deployments go to the loopback
Kubernetes API (``fake_kube``, model servers "ready" at once), models to the real MLflow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from recsys_platform.control_plane.app import create_app as create_control_plane
from recsys_platform.gateway.app import create_app as create_gateway
from recsys_platform.settings import ControlPlaneSettings, GatewaySettings

from tests.factories import ADMIN_TOKEN
from tests.integration.deploy.fake_kube import fake_kube
from tests.services import free_port


@dataclass
class Platform:
    control_plane: str
    gateway: str

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.control_plane, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )

    def onboard(self, tenant_id: str) -> dict[str, str]:
        """A tenant with one key per scope set: ``admin`` (control plane) and ``all`` (gateway)."""
        with self.admin() as admin:
            r = admin.post(
                "/v1/tenants", json={"id": tenant_id, "display_name": tenant_id, "use_case": "ecommerce"}
            )
            assert r.status_code == 201, r.text
            keys: dict[str, str] = {}
            for name, scopes in (
                ("admin", ["admin"]),
                ("all", ["admin", "events:write", "recommendations:read"]),
            ):
                r = admin.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": name, "scopes": scopes})
                assert r.status_code == 201, r.text
                keys[name] = r.json()["key"]
        return keys


@contextmanager
def _served(app: Any, name: str) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def platform(database_url: str, tmp_path: Path, mlflow_tracking_uri: str) -> Iterator[Platform]:
    with fake_kube() as kube:
        kube.auto_ready = True
        events = str(tmp_path / "events.db")
        cp = ControlPlaneSettings(
            admin_token=ADMIN_TOKEN,
            database={"url": database_url},
            event_log={"sqlite_path": events},
            provision_feature_store=False,
            mlflow={"tracking_uri": mlflow_tracking_uri, "provision": False},
            training={"enabled": False},
            deployer={
                "mode": "kserve",
                "kubeconfig": str(kube.kubeconfig(tmp_path / "kubeconfig")),
                "context": "fake",
            },
        )
        gw = GatewaySettings(
            database={"url": database_url},
            event_log={"sqlite_path": events},
            model_timeout_seconds=0.2,
        )
        with (
            _served(create_control_plane(cp), "control-plane") as cp_url,
            _served(create_gateway(gw), "gateway") as gw_url,
        ):
            yield Platform(cp_url, gw_url)
