"""``recsys experiments`` against a live control plane (uvicorn on a free port)."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from recsys_platform.cli.experiments import parse_variant
from recsys_platform.cli.main import app
from recsys_platform.control_plane.app import create_app
from recsys_platform.db.engine import build_engine, session_factory, transaction
from recsys_platform.db.models import Deployment, Experiment, ExperimentVariantStats
from recsys_platform.errors import InvalidInput
from recsys_platform.settings import ControlPlaneSettings
from sqlalchemy import select
from typer.testing import CliRunner

from tests.factories import ADMIN, ADMIN_TOKEN, create_tenant

pytestmark = pytest.mark.integration
runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'cp.db'}"
    settings = ControlPlaneSettings(admin_token=ADMIN_TOKEN, database={"url": url})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, provisioners=[]), port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    with httpx.Client(base_url=base) as c:
        create_tenant(c, ADMIN, id="shop")  # type: ignore[arg-type]
    engine = build_engine(url)
    with transaction(session_factory(engine)) as s:
        for name in ("champion", "challenger"):
            s.add(Deployment(id=uuid.uuid4().hex, tenant_id="shop", name=name, status="ready"))
    yield base, url
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def cli(base: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--url", base, "--token", ADMIN_TOKEN], env={"COLUMNS": "200"})
    return result.exit_code, " ".join(ANSI.sub("", result.output).split())


def test_create_start_results_stop(live: tuple[str, str]) -> None:
    base, url = live
    code, out = cli(
        base, "experiments", "create", "shop", "exp1",
        "--variant", "control=champion:1", "--variant", "treatment=challenger:1", "--surface", "home",
    )  # fmt: skip
    assert code == 0 and "exp1 draft surface=home" in out, out
    code, out = cli(base, "experiments", "start", "shop", "exp1")
    assert code == 0 and "running" in out
    engine = build_engine(url)
    with transaction(session_factory(engine)) as s:
        exp_id = s.scalar(select(Experiment.id))
        s.add(ExperimentVariantStats(experiment_id=exp_id, variant="control", impressions=1000, clicks=100))
        s.add(ExperimentVariantStats(experiment_id=exp_id, variant="treatment", impressions=1000, clicks=150))
    engine.dispose()
    code, out = cli(base, "experiments", "results", "shop", "exp1")
    assert code == 0, out
    assert "10.00%" in out and "15.00%" in out and "+50.0%" in out and "yes" in out
    code, out = cli(base, "experiments", "list", "shop")
    assert code == 0 and "exp1" in out
    assert cli(base, "experiments", "stop", "shop", "exp1")[0] == 0


def test_errors_name_the_field(live: tuple[str, str]) -> None:
    base, _ = live
    code, out = cli(
        base, "experiments", "create", "shop", "bad", "--variant", "a=champion", "--variant", "b=nope"
    )
    assert code == 1 and "variants.1.deployment" in out
    with pytest.raises(InvalidInput, match="name=deployment"):
        parse_variant("justaname")
    code, out = cli(
        base, "experiments", "create", "shop", "bad", "--variant", "a=champion:x", "--variant", "b=c"
    )
    assert code == 1 and "not a number" in out
