"""Local adapter: one model-server subprocess per deployment (embedded mode).

Each deployment gets a free port that it keeps across restarts (its endpoint stays
valid), a log file, and a supervisor thread that restarts a crashed process with
exponential backoff. :meth:`LocalProcessDeployer.close` stops every process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from recsys_platform.deploy.ports import DeploymentSpec, DeploymentStatus, State
from recsys_platform.deploy.settings import DeployerSettings

log = logging.getLogger(__name__)

#: A model that stayed up this long after a restart resets the backoff.
_STABLE_SECONDS = 60.0
_STOP_GRACE_SECONDS = 10.0

CommandBuilder = Callable[[DeploymentSpec, int, DeployerSettings], Sequence[str]]


def model_server_command(spec: DeploymentSpec, port: int, settings: DeployerSettings) -> list[str]:
    """``python -m recsys_model_servers --name N --model-uri U --port P``."""
    return [
        settings.python or sys.executable,
        "-m",
        "recsys_model_servers",
        "--name",
        spec.name,
        "--model-uri",
        spec.model_uri,
        "--port",
        str(port),
    ]


def free_port(host: str) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class _Managed:
    spec: DeploymentSpec
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    state: State = "pending"
    restarts: int = 0
    backoff: float = 1.0
    next_start_at: float = 0.0
    started_at: float = 0.0
    ready_at: float | None = None
    message: str | None = None
    detail: str | None = None  # the log tail: for the operator, never for a tenant
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalProcessDeployer:
    """Runs model servers as child processes of the control plane."""

    mode = "local"

    def __init__(
        self,
        settings: DeployerSettings,
        command: CommandBuilder = model_server_command,
        env: dict[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._command = command
        self._base_env = env
        self._managed: dict[tuple[str, str], _Managed] = {}
        self._starting: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=1.0)
        self._supervisor: threading.Thread | None = None

    # -- port ------------------------------------------------------------------------------
    def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Start a model server and wait until it is ready. A running deployment of the same
        name keeps serving until the new process is ready, then it is stopped."""
        self._ensure_supervisor()
        key = (spec.tenant_id, spec.name)
        host = self._settings.host
        log_path = Path(self._settings.work_dir) / spec.tenant_id / f"{spec.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        m = _Managed(spec, free_port(host), log_path, backoff=self._settings.restart_backoff_seconds)
        with self._lock:
            self._starting.add(key)
        try:
            self._wait_ready(m)
        finally:
            with self._lock:
                self._starting.discard(key)
        if m.state == "ready":
            with self._lock:
                stopping = self._stop.is_set()
                old = None if stopping else self._managed.get(key)
                if not stopping:
                    self._managed[key] = m
            if stopping:  # close() ran meanwhile: leave no process behind
                self._stop_managed(m)
                m.state, m.message = "failed", "the control plane is stopping"
            elif old is not None:
                self._stop_managed(old)
            log.info("model server ready", extra={"deployment": spec.name, "port": m.port})
        else:
            log.warning(
                "model server failed to start",
                extra={"deployment": spec.name, "error": m.message, "log_tail": m.detail},
            )
        return self._status(m)

    def _wait_ready(self, m: _Managed) -> None:
        """Start the process and wait until it is ready, exits, or the timeout passes."""
        self._spawn(m)
        deadline = time.monotonic() + self._settings.ready_timeout_seconds
        while True:
            assert m.process is not None
            code = m.process.poll()
            if code is not None:
                m.state, m.message = "failed", f"model server exited with code {code} before it was ready"
                m.detail = self._tail(m)
                self._close_log(m)
                break
            if self._healthy(m):
                m.state, m.ready_at, m.message, m.detail = "ready", time.monotonic(), None, None
                break
            if self._stop.is_set():
                self._terminate(m)
                m.state, m.message = "failed", "the control plane is stopping"
                break
            if time.monotonic() > deadline:
                self._terminate(m)
                m.state = "failed"
                waited = self._settings.ready_timeout_seconds
                m.message = f"model server not ready after {waited:.0f} s"
                m.detail = self._tail(m)
                break
            time.sleep(0.1)

    def status(self, tenant_id: str, name: str) -> DeploymentStatus:
        with self._lock:
            m = self._managed.get((tenant_id, name))
        if m is None:
            if (tenant_id, name) in self._starting:
                return DeploymentStatus(tenant_id, name, "pending", message="model server starting")
            return DeploymentStatus(tenant_id, name, "stopped", message="not running on this control plane")
        return self._status(m)

    def undeploy(self, tenant_id: str, name: str) -> None:
        with self._lock:
            m = self._managed.pop((tenant_id, name), None)
        if m is not None:
            self._stop_managed(m)

    def list(self, tenant_id: str) -> list[DeploymentStatus]:
        with self._lock:
            managed = [m for (t, _), m in self._managed.items() if t == tenant_id]
        return [self._status(m) for m in managed]

    def close(self) -> None:
        """Stop the supervisor and every model server."""
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            managed = list(self._managed.values())
            self._managed.clear()
        for m in managed:
            self._stop_managed(m)
        self._http.close()

    def pid(self, tenant_id: str, name: str) -> int | None:
        """Process id of a deployment's current model server (operators and tests)."""
        with self._lock:
            m = self._managed.get((tenant_id, name))
        return m.process.pid if m is not None and m.process is not None else None

    # -- processes -------------------------------------------------------------------------
    def _endpoint(self, m: _Managed) -> str:
        return f"http://{self._settings.host}:{m.port}"

    def _status(self, m: _Managed) -> DeploymentStatus:
        endpoint = self._endpoint(m) if m.state != "failed" else None
        return DeploymentStatus(
            m.spec.tenant_id,
            m.spec.name,
            m.state,
            endpoint,
            m.spec.model_version,
            m.message,
            m.restarts,
            m.detail if m.state == "failed" else None,
        )

    def _spawn(self, m: _Managed) -> None:
        env = dict(self._base_env if self._base_env is not None else os.environ)
        env.update(self._settings.env)
        env.update(m.spec.env)
        env.setdefault("RECSYS_MODEL_SERVER_TENANT_ID", m.spec.tenant_id)
        env["RECSYS_MODEL_SERVER_HOST"] = self._settings.host  # loopback unless configured
        m.log_file = m.log_path.open("ab")
        m.log_file.write(f"--- start {time.strftime('%Y-%m-%dT%H:%M:%S')} port {m.port}\n".encode())
        m.log_file.flush()
        m.process = subprocess.Popen(
            list(self._command(m.spec, m.port, self._settings)),
            stdout=m.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        m.started_at = time.monotonic()
        m.ready_at = None

    def _healthy(self, m: _Managed) -> bool:
        try:
            r = self._http.get(f"{self._endpoint(m)}/v2/health/ready")
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def _terminate(self, m: _Managed) -> None:
        p = m.process
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._close_log(m)

    def _stop_managed(self, m: _Managed) -> None:
        with m.lock:
            m.stopping = True
            self._terminate(m)
            m.state = "stopped"

    @staticmethod
    def _close_log(m: _Managed) -> None:
        if m.log_file is not None:
            m.log_file.close()
            m.log_file = None

    @staticmethod
    def _tail(m: _Managed, lines: int = 15) -> str:
        try:
            text = m.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    # -- supervisor ------------------------------------------------------------------------
    def _ensure_supervisor(self) -> None:
        if self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="model-server-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stop.wait(self._settings.supervise_interval_seconds):
            with self._lock:
                managed = list(self._managed.values())
            for m in managed:
                try:
                    self._check(m)
                except Exception:  # the supervisor must outlive any one bad process
                    log.exception("supervisor check failed", extra={"deployment": m.spec.name})

    def _check(self, m: _Managed) -> None:
        with m.lock:
            if m.stopping or self._stop.is_set():
                return
            now = time.monotonic()
            p = m.process
            if m.state in ("ready", "pending") and p is not None and p.poll() is not None:
                m.restarts += 1
                m.state = "restarting"
                m.message = (
                    f"model server exited with code {p.returncode}; restart {m.restarts} in {m.backoff:.1f} s"
                )
                m.next_start_at = now + m.backoff
                m.backoff = min(m.backoff * 2, self._settings.restart_backoff_max_seconds)
                self._close_log(m)
                log.warning("model server exited", extra={"deployment": m.spec.name, "code": p.returncode})
            elif m.state == "restarting" and now >= m.next_start_at:
                self._spawn(m)
                m.state = "pending"
            elif m.state == "pending" and p is not None and p.poll() is None:
                if self._healthy(m):
                    m.state, m.ready_at, m.message = "ready", now, None
                    log.info(
                        "model server ready again", extra={"deployment": m.spec.name, "restarts": m.restarts}
                    )
                elif now - m.started_at > self._settings.ready_timeout_seconds:
                    self._terminate(m)  # the next check schedules a restart
            elif m.state == "ready" and m.ready_at is not None and now - m.ready_at > _STABLE_SECONDS:
                m.backoff = self._settings.restart_backoff_seconds
