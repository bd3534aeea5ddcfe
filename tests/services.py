"""Dedicated service instances that a test may stop and start (fault tests).

They run from the project's own scripts (``scripts/services``) with their own state
folder and ports, so stopping one never disturbs the shared instances other tests use.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "services"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DedicatedService:
    """One service (``kafka`` or ``redis``) started by scripts/services/start.sh."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "RECSYS_SERVICES_STATE_DIR": str(state_dir),
            "RECSYS_SERVICES_KAFKA_PORT": str(self.port),
            "RECSYS_SERVICES_KAFKA_CONTROLLER_PORT": str(free_port()),
            "RECSYS_SERVICES_REDIS_PORT": str(self.port),
            # a restarted Redis keeps its data, as a production one does
            "RECSYS_SERVICES_REDIS_APPENDONLY": "yes",
        }

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.address}/0"

    def start(self) -> None:
        self._run("start.sh")

    def stop(self) -> None:
        self._run("stop.sh")

    def _run(self, script: str) -> None:
        result = subprocess.run(
            ["bash", str(SCRIPTS / script), self.name],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{script} {self.name} failed:\n{result.stderr[-3000:]}")


@contextmanager
def model_server_process(
    model_dir: Path, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real KServe model-server process serving ``model_dir`` (no online features) on a free
    port, ready; yields ``(endpoint, process)`` and kills it afterwards (the test may kill it first)."""
    import sys
    import time

    import httpx

    port = free_port()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "recsys_model_servers", "--name", "default", "--model-uri", str(model_dir),
             "--port", str(port), "--no-online-features", "--log-level", "WARNING"],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()[-3000:]
                try:
                    if httpx.get(f"{endpoint}/v2/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise AssertionError(f"real model server not ready: {log_path.read_text()[-3000:]}")
            yield endpoint, process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
