"""Start, kill and restart fake KServe model-server processes in tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]


class FakeModelServer:
    """One ``fake_model_server`` subprocess serving models ``names`` on a fixed free port."""

    def __init__(self, name: str, log_dir: Path, trace_file: Path | None = None, *more: str) -> None:
        self.name = name
        self.names = (name, *more)
        self.port = free_port()
        self.log_path = log_dir / f"model-{name}-{self.port}.log"
        self.trace_file = trace_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> FakeModelServer:
        env = {**os.environ, "FAKE_MODEL_NAME": ",".join(self.names), "FAKE_MODEL_PORT": str(self.port)}
        if self.trace_file is not None:
            env["FAKE_MODEL_TRACE_FILE"] = str(self.trace_file)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.gateway.fake_model_server"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"model server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.endpoint}/v2/models/{self.name}/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        tail = self.log_path.read_text()[-2000:]
        raise AssertionError(f"model server {self.name} not ready in {timeout}s: {tail}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
