"""The embedded platform (``recsys up``): control plane, gateway and stream processor in
one process on one machine, sharing a data folder; training runs with ``kfp.local`` and
registers in MLflow (SQLite), and model servers run as local processes. Same code as in
Kubernetes; only the adapters differ (SQLite event log, SQLite Feast online store, SQLite
control-plane DB and registry, local deployer)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from recsys_platform.features.settings import FeatureStoreSettings
from recsys_platform.settings import (
    ControlPlaneSettings,
    EventLogSettings,
    GatewaySettings,
    StreamSettings,
)


@dataclass
class EmbeddedSettings:
    control_plane: ControlPlaneSettings
    gateway: GatewaySettings
    stream: StreamSettings


def embedded_settings(data_dir: Path, port: int = 8000, gateway_port: int = 8080) -> EmbeddedSettings:
    data = data_dir.resolve()
    database = {"url": f"sqlite:///{data / 'control-plane.db'}"}
    # each run's model servers are started by this run's control plane: a fresh secret per run
    model_token_secret = secrets.token_urlsafe(32)
    event_log = EventLogSettings(sqlite_path=str(data / "events.db"))
    features = FeatureStoreSettings(
        online_store="sqlite",
        sqlite_dir=data / "feast" / "online",
        registry=data / "feast" / "registry",
        offline_root=data / "offline",
    )
    # MLflow without a server: a SQLite registry and local artifacts in the data folder (the
    # control plane registers models; the processor bandit checkpoints, the gateway loads them)
    mlflow = {
        "tracking_uri": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
        "artifact_root": str(data / "mlflow" / "artifacts"),
    }
    return EmbeddedSettings(
        control_plane=ControlPlaneSettings(
            port=port,
            database=database,
            event_log=event_log,
            feature_store=features,
            mlflow=mlflow,
            kfp={"mode": "local", "pipeline_root": str(data / "kfp")},
            training={"work_dir": str(data / "training")},
            deployer={"mode": "local", "work_dir": str(data / "deployments")},
            model_token_secret=model_token_secret,
        ),
        gateway=GatewaySettings(
            port=gateway_port,
            database={**database, "auto_migrate": False},
            event_log=event_log,
            mlflow=mlflow,
            model_token_secret=model_token_secret,
        ),
        stream=StreamSettings(
            database={**database, "auto_migrate": False},
            event_log=event_log,
            feature_store=features,
            metrics_port=0,
            mlflow=mlflow,
        ),
    )


@dataclass
class EmbeddedPlatform:
    """Starts the three services in threads; :meth:`stop` stops them in reverse order."""

    settings: EmbeddedSettings
    _servers: list[tuple[uvicorn.Server, threading.Thread]] = field(default_factory=list)
    _stream_thread: threading.Thread | None = None
    processor: Any = None
    features: Any = None

    def start(self, timeout: float = 60.0) -> None:
        from recsys_platform.control_plane.app import create_app as control_plane_app
        from recsys_platform.gateway.app import create_app as gateway_app
        from recsys_platform.stream.service import build_processor
        from recsys_platform.tenancy.auth_changes import LocalAuthChanges

        changes = LocalAuthChanges()  # a revoked key stops working on the gateway at once
        cp = self.settings.control_plane
        self._serve(control_plane_app(cp, auth_changes=changes), cp.host, cp.port, "control-plane", timeout)
        gw = self.settings.gateway
        self._serve(gateway_app(gw, auth_changes=changes), gw.host, gw.port, "gateway", timeout)
        from recsys_platform.features.feast_store import FeastUserFeatureStore

        self.features = FeastUserFeatureStore(self.settings.stream.feature_store)
        self.processor, _ = build_processor(self.settings.stream, CollectorRegistry(), self.features)
        self._stream_thread = threading.Thread(target=self.processor.run, name="stream", daemon=True)
        self._stream_thread.start()

    def _serve(self, app: Any, host: str, port: int, name: str, timeout: float) -> None:
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start on {host}:{port}")
            time.sleep(0.05)
        self._servers.append((server, thread))

    def alive(self) -> bool:
        threads = [t for _, t in self._servers] + ([self._stream_thread] if self._stream_thread else [])
        return all(t.is_alive() for t in threads)

    def stop(self) -> None:
        if self.processor is not None:
            self.processor.stop()
        if self._stream_thread is not None:
            self._stream_thread.join(timeout=30)
        for server, thread in reversed(self._servers):
            server.should_exit = True
            thread.join(timeout=30)
