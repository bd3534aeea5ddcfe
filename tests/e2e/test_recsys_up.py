"""The README's first command: `recsys up` onboards the demo tenants and serves the API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RECSYS = Path(sys.executable).parent / "recsys"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_recsys_up_onboards_demo_tenants_and_is_idempotent(tmp_path: Path) -> None:
    port = _free_port()
    cmd = [
        str(RECSYS),
        "up",
        "--once",
        "--port",
        str(port),
        "--gateway-port",
        str(_free_port()),
        "--data-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "tenant/acme-shop: create" in first.stdout
    assert "tenant/daily-planet: create" in first.stdout
    assert first.stdout.count("rsk_") == 4  # four keys, shown once
    assert "catalog: 300 created, 0 updated, 0 rejected" in first.stdout
    # demo clicks went gateway -> event log -> stream processor -> the user's Feast row
    assert first.stdout.count("events: 160 sent; demo-user-19's profile after") == 2
    assert first.stdout.count(": 8 events, recent [") == 2

    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "tenant/acme-shop: unchanged" in second.stdout
    assert "rsk_" not in second.stdout  # keys are never shown again
    assert second.stdout.count(": 8 events, recent [") == 2  # re-sent demo events count once
    assert (tmp_path / "control-plane.db").exists()


def test_recsys_up_serves_until_stopped(tmp_path: Path) -> None:
    port, gateway_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            str(RECSYS),
            "up",
            "--port",
            str(port),
            "--gateway-port",
            str(gateway_port),
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "serving" in line:
                break
        else:
            pytest.fail(f"recsys up exited early: {proc.stderr.read() if proc.stderr else ''}")
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer dev-admin-token"}
        tenants = httpx.get(f"{base}/v1/tenants", headers=headers).json()["items"]
        assert [t["id"] for t in tenants] == ["acme-shop", "daily-planet"]
        page = httpx.get(f"{base}/v1/tenants/acme-shop/catalog/items?limit=5", headers=headers)
        assert len(page.json()["items"]) == 5
        gateway = f"http://127.0.0.1:{gateway_port}"
        assert httpx.get(f"{gateway}/readyz").json()["status"] == "ready"
        anonymous = httpx.post(f"{gateway}/v1/events", json={"events": []})
        assert anonymous.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
