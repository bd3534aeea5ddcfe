"""Schemathesis over both OpenAPI documents (control plane and gateway), against the real
services over HTTP: no request may answer 5xx or a status its operation does not document,
and every documented response must match its schema.

Bounded: ``RECSYS_FUZZ_EXAMPLES`` generated requests per operation (default 25; about a
minute per service on one core), derandomized so a CI failure reproduces. Path parameters
named ``tenant_id`` are, for half of the cases, the onboarded tenant's id (so the handlers
behind the tenant lookup are reached), otherwise whatever was generated.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.security.conftest import TENANT
from tests.security.services import Platform

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("RECSYS_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _fuzz(base_url: str, headers: dict[str, str], reset: Any = None) -> list[str]:
    """Run every operation; return one line per distinct failure (operation, status, check)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: Counter[str] = Counter()
    for result in schema.get_all_operations():
        _runner(result.ok(), base_url, headers, reset, failures)()
    return [f"{line} (x{n})" for line, n in sorted(failures.items())]


def _runner(
    operation: Any, base_url: str, headers: dict[str, str], reset: Any, failures: Counter[str]
) -> Any:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        params = case.path_parameters or {}
        if "tenant_id" in params and len(str(params["tenant_id"])) % 2 == 0:
            params["tenant_id"] = TENANT
        if reset is not None:
            reset()
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # collect: one run reports every broken operation
            first = str(exc).strip().splitlines()[0][:160]
            failures[f"{operation.label} -> {response.status_code}: {first}"] += 1

    return run


def test_the_control_plane_answers_no_5xx_and_only_documented_statuses(
    live: tuple[Platform, dict[str, str]],
) -> None:
    p, _ = live

    def keep_the_tenant() -> None:  # a fuzzed DELETE may remove it; the next case needs it
        with p.admin() as admin:
            if admin.get(f"/v1/tenants/{TENANT}").status_code == 404:
                p.onboard(TENANT)

    failures = _fuzz(p.control_plane, {"Authorization": "Bearer test-admin-token"}, keep_the_tenant)
    assert not failures, "\n".join(failures)


def test_the_gateway_answers_no_5xx_and_only_documented_statuses(
    live: tuple[Platform, dict[str, str]],
) -> None:
    p, keys = live
    failures = _fuzz(p.gateway, {"Authorization": f"Bearer {keys['all']}"})
    assert not failures, "\n".join(failures)


def test_the_fuzz_suite_sees_a_real_failure(tmp_path: Path) -> None:
    """The harness itself: an app that answers 500 and an undocumented 418 is reported."""
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI, Response

    from tests.services import free_port

    app = FastAPI()

    @app.get("/boom/{n}", response_model=None)
    def boom(n: int) -> Response:
        return Response(status_code=500 if n % 2 else 418)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        failures = _fuzz(f"http://127.0.0.1:{port}", {})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert any("-> 500" in f for f in failures), failures
    assert any("-> 418" in f for f in failures), failures
