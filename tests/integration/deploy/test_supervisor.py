"""The local supervisor with small real processes standing in for model servers: crash
restarts with growing backoff on the same port, a restart that never gets ready is
killed and tried again, and ``close`` leaves no process behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from recsys_platform.deploy.local import LocalProcessDeployer
from recsys_platform.deploy.ports import DeploymentSpec
from recsys_platform.deploy.settings import DeployerSettings

pytestmark = pytest.mark.integration
TINY = Path(__file__).with_name("tiny_server.py")


def tiny(flag_file: Path | None = None) -> Callable[[DeploymentSpec, int, DeployerSettings], Sequence[str]]:
    """Command builder: the tiny server; ``--never-ready`` while ``flag_file`` exists."""

    def build(spec: DeploymentSpec, port: int, settings: DeployerSettings) -> list[str]:
        never = ["--never-ready"] if flag_file is not None and flag_file.exists() else []
        return [sys.executable, str(TINY), str(port), *never]

    return build


def wait(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def starts(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("--- start")]


def test_crashes_restart_with_growing_backoff(tmp_path: Path) -> None:
    settings = DeployerSettings(
        work_dir=str(tmp_path), restart_backoff_seconds=0.4, supervise_interval_seconds=0.02
    )
    deployer = LocalProcessDeployer(settings, command=tiny())
    try:
        first = deployer.deploy(DeploymentSpec("acme", "default", "/unused"))
        assert first.state == "ready"
        downtime = []
        for expected_restarts in (1, 2):
            pid = deployer.pid("acme", "default")
            assert pid is not None
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            wait(lambda: deployer.status("acme", "default").state != "ready")
            wait(lambda: deployer.status("acme", "default").state == "ready")
            downtime.append(time.monotonic() - killed)
            status = deployer.status("acme", "default")
            assert status.restarts == expected_restarts
            assert status.endpoint == first.endpoint
        # the supervisor never restarts sooner than the backoff, and the backoff doubles
        assert downtime[0] >= 0.4
        assert downtime[1] >= 0.8
        assert len(starts(tmp_path / "acme" / "default.log")) == 3
    finally:
        deployer.close()


def test_a_restart_that_never_gets_ready_is_killed_and_retried(tmp_path: Path) -> None:
    flag = tmp_path / "never-ready"
    settings = DeployerSettings(
        work_dir=str(tmp_path),
        restart_backoff_seconds=0.1,
        supervise_interval_seconds=0.02,
        ready_timeout_seconds=1.0,
    )
    deployer = LocalProcessDeployer(settings, command=tiny(flag))
    try:
        assert deployer.deploy(DeploymentSpec("acme", "default", "/unused")).state == "ready"
        flag.touch()  # from now on the process starts but never reports ready
        pid = deployer.pid("acme", "default")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait(lambda: deployer.status("acme", "default").restarts >= 3)  # killed after 1 s, retried
        assert deployer.status("acme", "default").state in {"pending", "restarting"}
        flag.unlink()
        wait(lambda: deployer.status("acme", "default").state == "ready")
    finally:
        deployer.close()


def test_a_failed_start_is_reported_and_close_stops_everything(tmp_path: Path) -> None:
    settings = DeployerSettings(work_dir=str(tmp_path), ready_timeout_seconds=1.0)

    def crashing(spec: DeploymentSpec, port: int, s: DeployerSettings) -> list[str]:
        return [sys.executable, "-c", "import sys; print('cannot load model: bad manifest'); sys.exit(3)"]

    failing = LocalProcessDeployer(settings, command=crashing)
    status = failing.deploy(DeploymentSpec("acme", "broken", "/unused"))
    assert status.state == "failed"
    assert status.message is not None
    assert "exited with code 3" in status.message
    # the model server's own words are for the operator (``detail``), never in the tenant's message
    assert "bad manifest" not in status.message
    assert status.detail is not None and "bad manifest" in status.detail
    assert failing.list("acme") == []
    failing.close()

    deployer = LocalProcessDeployer(settings, command=tiny())
    pids = []
    for name in ("a", "b"):
        assert deployer.deploy(DeploymentSpec("acme", name, "/unused")).state == "ready"
        pid = deployer.pid("acme", name)
        assert pid is not None
        pids.append(pid)
    assert sorted(s.name for s in deployer.list("acme")) == ["a", "b"]
    deployer.close()
    assert not any(alive(pid) for pid in pids)
