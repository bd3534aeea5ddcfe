"""docs/quickstart.md, run as a newcomer would: its first ``bash`` block starts the platform,
the others run in one shell against it. Only the ports differ (free ones, not 8000/8080)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"


def blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", QUICKSTART.read_text(), re.S)


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    start, *steps = blocks()
    assert start.strip() == "scripts/up.sh --no-train" and len(steps) >= 4
    port, gateway_port = free_port(), free_port()

    def ported(text: str) -> str:
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace(
            "127.0.0.1:8080", f"127.0.0.1:{gateway_port}"
        )

    env = {
        k: v for k, v in os.environ.items() if not k.startswith("RECSYS_") or k.startswith("RECSYS_SERVICES")
    }
    env.update({"RECSYS_CONFIG": str(tmp_path / "config.yaml"), "TMPDIR": str(tmp_path), "COLUMNS": "200"})
    log = tmp_path / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen(
            [
                "bash",
                "-c",
                f"{start.strip()} --port {port} --gateway-port {gateway_port} --data-dir {tmp_path / 'var'}",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "serving; press Ctrl-C" not in log.read_text():
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{gateway_port}/readyz").status_code == 200
        script = "set -euo pipefail\n" + "\n".join(ported(step) for step in steps)
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    output = done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tenant/my-shop" in output and "My Shop" in output
    assert "created 300, updated 0, rejected 0" in output
    assert '"accepted":2' in output.replace(" ", "")  # the events' answer
    assert '"fallback":true' in output.replace(" ", "")  # the list before any model
    assert "accepted 2" in output  # the Python client
    assert len(re.findall(r"^[123] p\d{4} ", output, re.M)) == 3
