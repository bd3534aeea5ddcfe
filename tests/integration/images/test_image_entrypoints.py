"""The container images' contents and entry points, checked without a Docker engine.

The images (docker/*.Dockerfile) install a regular wheel of the project, not the editable
checkout. These tests build that wheel from the same files the Dockerfiles copy, install it
into a target folder of its own and run the image's commands (``recsys db upgrade``,
``recsys control-plane``, ``recsys gateway``, ``recsys stream``) from an empty, read-only
working directory outside the repository, with every path set the way the Helm chart sets
it: under one writable folder standing in for the pod's ``/tmp``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILES = [
    ROOT / "docker" / "platform.Dockerfile",
    ROOT / "docker" / "pipelines.Dockerfile",
    ROOT / "docker" / "model-server.Dockerfile",
]
#: What the Dockerfiles COPY into the build stage (everything else is .dockerignore'd or unused).
BUILD_INPUTS = ["pyproject.toml", "README.md", "platform", "pipelines", "model_servers", "clients/python"]
ADMIN_TOKEN = "image-test-admin-token-4f1c2a"
START_TIMEOUT = 90.0


# -- the wheel and its installation ----------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the image's build inputs (keeps build/ out of the repo)."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)  # clients/python: the recsys-client wheel
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            "./clients/python",
            ".",
        ],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("recsys-0*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (no dependencies) into a target folder of its own."""
    target = tmp_path_factory.mktemp("target")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            *map(str, wheel.parent.glob("*.whl")),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "bin" / "recsys").is_file()
    return target


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """An empty read-only working directory and a writable folder standing in for /tmp."""
    cwd = tmp_path / "workdir"
    cwd.mkdir()
    writable = tmp_path / "tmp"
    writable.mkdir()
    cwd.chmod(0o555)
    yield {"cwd": cwd, "tmp": writable}
    cwd.chmod(0o755)
    # Root ignores the read-only bit, so check that nothing was written there either way.
    assert list(cwd.iterdir()) == [], "a process wrote to its working directory"


def _env(installed: Path, pod: dict[str, Path], **extra: str) -> dict[str, str]:
    """The image's environment: the installed wheel first, then the dependencies only."""
    deps = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": f"{installed / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": f"{installed}{os.pathsep}{deps}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONSAFEPATH": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "HOME": str(pod["tmp"]),
        "TMPDIR": str(pod["tmp"]),
        # no mounted secrets directory: settings come from the environment only
        "RECSYS_SECRETS_DIR": str(pod["tmp"] / "no-secrets"),
    }
    env.update(extra)
    return env


def _recsys(installed: Path) -> list[str]:
    return [sys.executable, str(installed / "bin" / "recsys")]


def _db_url(pod: dict[str, Path]) -> str:
    return f"sqlite:///{pod['tmp'] / 'recsys.db'}"


def _upgrade(installed: Path, pod: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_recsys(installed), "db", "upgrade"],
        cwd=pod["cwd"],
        env=_env(installed, pod, RECSYS_CONTROL_PLANE_DATABASE__URL=_db_url(pod)),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _serving(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ok(proc: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode} before {url} answered:\n{log.read_text()[-4000:]}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
            last = f"{r.status_code} {r.text[:500]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(
        f"{url} did not answer 200 in {START_TIMEOUT:.0f} s (last: {last}):\n{log.read_text()[-4000:]}"
    )


# -- (a) the wheel carries its package data --------------------------------------------------


def test_wheel_contains_migrations_and_demo_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = "recsys_platform/db/migrations/"
    assert f"{migrations}env.py" in names
    assert f"{migrations}script.py.mako" in names
    assert any(re.fullmatch(rf"{migrations}versions/0001_\w+\.py", n) for n in names), sorted(names)
    for use_case in ("news", "ecommerce", "video"):
        assert f"recsys_platform/demo/{use_case}_items.jsonl" in names
    assert "recsys_platform/py.typed" in names


# -- (b) the image's commands, run from the installed wheel -----------------------------------


def test_installed_wheel_not_the_checkout_is_imported(installed: Path, pod: dict[str, Path]) -> None:
    code = "import recsys_platform, sys; print(recsys_platform.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=pod["cwd"],
        env=_env(installed, pod),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert Path(out).is_relative_to(installed), out


def test_db_upgrade_creates_the_schema(installed: Path, pod: dict[str, Path]) -> None:
    result = _upgrade(installed, pod)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(pod["tmp"] / "recsys.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tenants", "api_keys", "catalog_items", "provisioned_resources", "alembic_version"} <= tables


def _control_plane_env(installed: Path, pod: dict[str, Path], port: int, token: str) -> dict[str, str]:
    t = pod["tmp"]
    return _env(
        installed,
        pod,
        RECSYS_CONTROL_PLANE_ENVIRONMENT="production",
        RECSYS_CONTROL_PLANE_HOST="127.0.0.1",
        RECSYS_CONTROL_PLANE_PORT=str(port),
        RECSYS_CONTROL_PLANE_ADMIN_TOKEN=token,
        RECSYS_CONTROL_PLANE_MODEL_TOKEN_SECRET="image-test-model-token-secret",
        RECSYS_CONTROL_PLANE_DATABASE__URL=_db_url(pod),
        RECSYS_CONTROL_PLANE_DATABASE__AUTO_MIGRATE="false",
        RECSYS_CONTROL_PLANE_PROVISION_FEATURE_STORE="false",
        RECSYS_CONTROL_PLANE_EVENT_LOG__SQLITE_PATH=str(t / "events.db"),
        RECSYS_CONTROL_PLANE_FEATURE_STORE__SQLITE_DIR=str(t / "feast" / "online"),
        RECSYS_CONTROL_PLANE_FEATURE_STORE__REGISTRY=str(t / "feast" / "registry"),
        RECSYS_CONTROL_PLANE_FEATURE_STORE__OFFLINE_ROOT=str(t / "offline"),
        # training state: the chart points these at the MLflow server and writable volumes
        RECSYS_CONTROL_PLANE_MLFLOW__TRACKING_URI=f"sqlite:///{t / 'mlflow.db'}",
        RECSYS_CONTROL_PLANE_MLFLOW__ARTIFACT_ROOT=str(t / "mlflow-artifacts"),
        RECSYS_CONTROL_PLANE_KFP__PIPELINE_ROOT=str(t / "kfp"),
        RECSYS_CONTROL_PLANE_TRAINING__WORK_DIR=str(t / "training"),
    )


def test_control_plane_serves_health_and_readiness(installed: Path, pod: dict[str, Path]) -> None:
    assert _upgrade(installed, pod).returncode == 0
    port = free_port()
    env = _control_plane_env(installed, pod, port, ADMIN_TOKEN)
    log = pod["tmp"] / "control-plane.log"
    with _serving([*_recsys(installed), "control-plane"], env, pod["cwd"], log) as proc:
        assert _wait_ok(proc, f"http://127.0.0.1:{port}/healthz", log).json() == {"status": "ok"}
        ready = _wait_ok(proc, f"http://127.0.0.1:{port}/readyz", log).json()
        assert ready["status"] == "ready", ready
        # onboarding provisions the tenant's event log: its writes must stay under /tmp too
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/tenants",
            json={"id": "acme", "display_name": "Acme", "use_case": "news"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text


def test_control_plane_refuses_the_placeholder_token_in_production(
    installed: Path, pod: dict[str, Path]
) -> None:
    env = _control_plane_env(installed, pod, free_port(), "dev-admin-token")
    result = subprocess.run(
        [*_recsys(installed), "control-plane"],
        cwd=pod["cwd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "admin_token" in result.stdout + result.stderr


def test_gateway_serves_health_and_readiness(installed: Path, pod: dict[str, Path]) -> None:
    assert _upgrade(installed, pod).returncode == 0
    port = free_port()
    env = _env(
        installed,
        pod,
        RECSYS_GATEWAY_ENVIRONMENT="production",
        RECSYS_GATEWAY_HOST="127.0.0.1",
        RECSYS_GATEWAY_PORT=str(port),
        RECSYS_GATEWAY_MODEL_TOKEN_SECRET="image-test-model-token-secret",
        RECSYS_GATEWAY_DATABASE__URL=_db_url(pod),
        RECSYS_GATEWAY_EVENT_LOG__SQLITE_PATH=str(pod["tmp"] / "events.db"),
    )
    log = pod["tmp"] / "gateway.log"
    with _serving([*_recsys(installed), "gateway"], env, pod["cwd"], log) as proc:
        assert _wait_ok(proc, f"http://127.0.0.1:{port}/healthz", log).json() == {"status": "ok"}
        assert _wait_ok(proc, f"http://127.0.0.1:{port}/readyz", log).json()["status"] == "ready"


def test_stream_processor_serves_health(installed: Path, pod: dict[str, Path]) -> None:
    assert _upgrade(installed, pod).returncode == 0
    port = free_port()
    t = pod["tmp"]
    env = _env(
        installed,
        pod,
        RECSYS_STREAM_ENVIRONMENT="production",
        RECSYS_STREAM_METRICS_HOST="127.0.0.1",
        RECSYS_STREAM_METRICS_PORT=str(port),
        RECSYS_STREAM_DATABASE__URL=_db_url(pod),
        RECSYS_STREAM_EVENT_LOG__SQLITE_PATH=str(t / "events.db"),
        RECSYS_STREAM_FEATURE_STORE__SQLITE_DIR=str(t / "feast" / "online"),
        RECSYS_STREAM_FEATURE_STORE__REGISTRY=str(t / "feast" / "registry"),
        RECSYS_STREAM_FEATURE_STORE__OFFLINE_ROOT=str(t / "offline"),
    )
    log = t / "stream.log"
    with _serving([*_recsys(installed), "stream"], env, pod["cwd"], log) as proc:
        assert _wait_ok(proc, f"http://127.0.0.1:{port}/healthz", log).status_code == 200


def test_model_server_serves_an_artifact(installed: Path, pod: dict[str, Path]) -> None:
    """The model-server image's command: ``python -m recsys_model_servers`` on a local artifact."""
    from tests.integration.model_servers.support import fit_and_save

    artifact = fit_and_save(pod["tmp"] / "artifact")
    port = free_port()
    args = [sys.executable, "-m", "recsys_model_servers", "--name", "T_image", "--model-uri", str(artifact)]
    args += ["--http-port", str(port), "--no-online-features"]
    log = pod["tmp"] / "model-server.log"
    with _serving(args, _env(installed, pod), pod["cwd"], log) as proc:
        _wait_ok(proc, f"http://127.0.0.1:{port}/v2/models/T_image/ready", log)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/T_image:predict",
            json={"instances": [{"popular": True, "n": 3}]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"][0]["items"]) == 3
        assert "recsys_model_servers" in _which_package(installed, pod)


def _which_package(installed: Path, pod: dict[str, Path]) -> str:
    code = "import recsys_model_servers; print(recsys_model_servers.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=pod["cwd"], env=_env(installed, pod), capture_output=True, text=True
    )
    assert Path(out.stdout.strip()).is_relative_to(installed), out.stdout + out.stderr
    return out.stdout


# -- (c) the Dockerfiles ----------------------------------------------------------------------


def test_dockerfiles_pass_hadolint() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tools" / "lint-dockerfiles.sh"), *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_policies(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    instructions = [
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
    assert froms and all(f == "python:3.11.7-slim-bookworm" or "@sha256:" in f for f in froms), froms
    assert ":latest" not in text and not any(":" not in f for f in froms)
    # the final stage runs as the unprivileged uid the chart's securityContext expects
    assert [line for line in instructions if line.upper().startswith("USER ")][-1] == "USER 10001"
    assert "useradd --uid 10001 --no-create-home" in text
    assert "pip install --no-cache-dir -r requirements.lock" in text
    assert re.search(r"pip install --no-cache-dir --no-deps (\./clients/python )?\.(\s|$)", text)
    assert " -e " not in text and "--editable" not in text
    for var in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "OPENBLAS_NUM_THREADS=1"):
        assert var in text


def test_platform_image_entrypoint_and_ports() -> None:
    text = DOCKERFILES[0].read_text()
    assert 'ENTRYPOINT ["recsys"]' in text
    assert 'CMD ["--help"]' in text
    assert re.search(r"^EXPOSE 8000 8080 9108$", text, re.MULTILINE)


def test_model_server_image_entrypoint_and_port() -> None:
    text = (ROOT / "docker" / "model-server.Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "recsys_model_servers"]' in text
    assert re.search(r"^EXPOSE 8080$", text, re.MULTILINE)


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (
        ".venv",
        ".cache",
        "var",
        "tests",
        "docs",
        "**/__pycache__",
        ".git",
        "benchmarks",
        "*.egg-info",
    ):
        assert entry in entries, entry
    # ...and keeps everything the Dockerfiles COPY
    assert not entries & set(BUILD_INPUTS + ["requirements.lock"])
