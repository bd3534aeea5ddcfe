"""``recsys recommend`` and ``recsys events`` against a live gateway."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from recsys_client import ControlPlaneClient
from recsys_platform.cli.main import app
from typer.testing import CliRunner

from tests.factories import ADMIN_TOKEN
from tests.integration.client.conftest import Live

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_recommend_and_send_events(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONFIG", str(tmp_path / "config.yaml"))
    with ControlPlaneClient(live.control_plane, ADMIN_TOKEN) as cp:
        tenant_id = f"t-{uuid.uuid4().hex[:8]}"
        cp.create_tenant(tenant_id, use_case="ecommerce")
        cp.import_items(tenant_id, [{"item_id": f"sku-{i}", "title": f"Item {i}"} for i in range(5)])
        key = cp.create_api_key(tenant_id, "cli", ["events:write", "recommendations:read"]).key
    runner = CliRunner()

    def recsys(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args], env={"COLUMNS": "200", "RECSYS_API_KEY": key})
        return result.exit_code, ANSI.sub("", result.output)

    now = datetime.now(UTC).isoformat()
    events = tmp_path / "events.jsonl"
    good = {"event_id": "e-1", "user_id": "u1", "item_id": "sku-1", "type": "click", "timestamp": now}
    events.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "event_id": "e-2", "type": "poke"}) + "\n"
    )
    code, out = recsys("events", "send", str(events), "--gateway-url", live.gateway)
    assert code == 1 and "accepted 1, rejected 1" in out and "event 1 (e-2)" in out and "type" in out
    code, out = recsys(
        "events", "track", "u1", "sku-2", "rating", "--value", "4", "--gateway-url", live.gateway
    )
    assert code == 0 and "accepted" in out

    code, out = recsys("recommend", "u1", "-n", "3", "-o", "json", "--gateway-url", live.gateway)
    assert code == 0, out
    answer = json.loads(out)
    assert answer["fallback"] is True and 0 < len(answer["items"]) <= 3
    code, out = recsys("recommend", "u1", "--gateway-url", live.gateway)
    assert code == 0 and "popularity fallback" in out
    code, out = recsys("recommend", "u1", "--gateway-url", live.gateway, "--key", "rk_wrong")
    assert code == 1 and "401" in out
    code, out = recsys("recommend", "u1", "--gateway-url", "http://127.0.0.1:1")
    assert code == 3 and "http://127.0.0.1:1" in out and "gateway" in out
