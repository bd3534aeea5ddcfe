"""The README's first command: `recsys up` onboards the demo tenants and serves the API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RECSYS = Path(sys.executable).parent / "recsys"


def test_recsys_up_onboards_demo_tenants_and_is_idempotent(tmp_path: Path) -> None:
    port = free_port()
    cmd = [
        str(RECSYS),
        "up",
        "--once",
        "--port",
        str(port),
        "--gateway-port",
        str(free_port()),
        "--data-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "tenant/acme-shop: create" in first.stdout
    assert "tenant/daily-planet: create" in first.stdout
    assert first.stdout.count("rsk_") == 4  # four keys, shown once
    assert "catalog: 300 created, 0 updated, 0 rejected" in first.stdout
    # demo clicks went gateway -> event log -> stream processor -> the user's Feast row
    assert first.stdout.count("events: 1920 sent; demo-user-119's profile after") == 2
    assert first.stdout.count(": 16 events, recent [") == 2
    # each tenant's pipeline trained and registered a champion that beats popularity
    trained = re.findall(
        r"model version 1 \(champion\), hold-out nDCG@10 ([0-9.]+) \(popularity ([0-9.]+)\)", first.stdout
    )
    assert len(trained) == 2, first.stdout
    assert all(float(model) > float(popularity) for model, popularity in trained), trained
    # deployed as a local model server, asked through the gateway; a click changed the next list
    assert first.stdout.count("deployment 'default': ready at http://127.0.0.1:") == 2
    assert first.stdout.count("recommendations for demo-user-119 (") == 2
    assert len(re.findall(r"^    1\. \S+  [0-9.]+  because ", first.stdout, re.M)) == 2
    changed = [int(n) for n in re.findall(r"next list \([0-9]+ ms\) has ([0-9]+) of 10", first.stdout)]
    assert len(changed) == 2 and all(n >= 1 for n in changed), first.stdout

    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "tenant/acme-shop: unchanged" in second.stdout
    assert "rsk_" not in second.stdout  # keys are never shown again
    # re-sent demo events count once; the first run's demo click is the 17th event
    assert second.stdout.count(": 17 events, recent [") == 2, second.stdout
    # a second run registers version 2; the gate decides whether it becomes champion
    assert len(re.findall(r"model version 2 \((champion|challenger; champion kept)\)", second.stdout)) == 2
    assert second.stdout.count("deployment 'default': ready at") == 2
    assert (tmp_path / "control-plane.db").exists()


def test_recsys_up_serves_live_recommendations_until_stopped(tmp_path: Path) -> None:
    port, gateway_port = free_port(), free_port()
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
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    endpoints: list[str] = []
    try:
        assert proc.stdout is not None
        output = []
        for line in proc.stdout:
            output.append(line)
            if "serving" in line:
                break
        else:
            pytest.fail(
                f"recsys up exited early: {''.join(output)} {proc.stderr.read() if proc.stderr else ''}"
            )
        text = "".join(output)
        storefront = re.search(r"api key 'storefront': (rsk_\S+)", text)
        assert storefront is not None, text
        endpoints = re.findall(r"deployment 'default': ready at (http://\S+)", text)
        assert len(endpoints) == 2, text
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer dev-admin-token"}
        tenants = httpx.get(f"{base}/v1/tenants", headers=headers).json()["items"]
        assert [t["id"] for t in tenants] == ["acme-shop", "daily-planet"]
        gateway = f"http://127.0.0.1:{gateway_port}"
        assert httpx.get(f"{gateway}/readyz").json()["status"] == "ready"
        assert httpx.post(f"{gateway}/v1/events", json={"events": []}).status_code == 401
        # the storefront key printed once gets live, personal recommendations from the model
        r = httpx.post(
            f"{gateway}/v1/recommendations",
            json={"user_id": "demo-user-3", "n": 5},
            headers={"Authorization": f"Bearer {storefront.group(1)}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["fallback"] is False and body["model_version"] == "1"
        assert len(body["items"]) == 5 and body["recommendation_id"]
    finally:
        # SIGTERM, as a supervisor stops it (Ctrl-C takes the same path): before issue 11 it
        # had no handler and the model servers were left running under init
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    for endpoint in endpoints:  # the model servers stopped with the platform
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{endpoint}/v2/health/ready", timeout=2)
