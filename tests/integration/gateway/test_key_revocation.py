"""Revoked, rotated and expired keys, and a deleted tenant's keys, stop working on the gateway
at once; two different credentials in one request are refused.

The real control plane and the real gateway (two apps, as two processes would be) share a
PostgreSQL database and announce/receive key changes over the real Redis. The gateway keeps
its default key cache (30 s): before the announcements, a revoked key kept working that long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.gateway.app import create_app as create_gateway
from recsys_platform.provisioning.log_topics import SqliteLogTopicProvisioner
from recsys_platform.settings import GatewaySettings
from recsys_platform.tenancy.auth_changes import LocalAuthChanges

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header
from tests.integration.event_path import event

pytestmark = pytest.mark.integration
PREFIX = "recsys"
#: "At once": the announcement crosses Redis within milliseconds; the deadline only absorbs a
#: loaded CI machine. Before the fix the gateway answered 2xx for ``key_cache_seconds`` (30 s).
DEADLINE_SECONDS = 1.0


@contextmanager
def _platform(
    make_client: AppFactory,
    database_url: str,
    tmp_path: Path,
    redis_url: str | None,
    changes: LocalAuthChanges | None = None,
) -> Iterator[tuple[TestClient, TestClient]]:
    log = SqliteEventLog(tmp_path / "events.db")
    with make_client(
        provisioners=[SqliteLogTopicProvisioner(log, PREFIX)], redis_url=redis_url, auth_changes=changes
    ) as cp:
        settings = GatewaySettings(
            database={"url": database_url}, event_log={"kafka": {"topic_prefix": PREFIX}}, redis_url=redis_url
        )
        app = create_gateway(settings, event_log=log, auth_changes=changes)
        with TestClient(app, raise_server_exceptions=False) as gw:
            listener = app.state.auth_changes_listener
            if listener is not None:
                assert listener.connected.wait(10), "the gateway never subscribed to the Redis channel"
            yield cp, gw
    log.close()


def _send(gw: TestClient, headers: dict[str, str], n: int = 1) -> httpx.Response:
    return gw.post("/v1/events", json={"events": [event(f"{time.monotonic_ns()}-{n}")]}, headers=headers)


def _seconds_until_401(gw: TestClient, headers: dict[str, str]) -> float:
    start = time.monotonic()
    while True:
        r = _send(gw, headers)
        if r.status_code == 401:
            return time.monotonic() - start
        assert r.status_code == 200, r.text
        if time.monotonic() - start > DEADLINE_SECONDS:
            raise AssertionError(f"the key still works {DEADLINE_SECONDS} s after the change")
        time.sleep(0.01)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_revoked_rotated_and_deleted_tenants_keys_stop_working_at_once(
    make_client: AppFactory, database_url: str, tmp_path: Path, redis_url: str
) -> None:
    with _platform(make_client, database_url, tmp_path, redis_url) as (cp, gw):
        tenant = create_tenant(cp, ADMIN)["id"]
        other = create_tenant(cp, ADMIN)["id"]
        keys = {name: create_key(cp, ADMIN, tenant, "events:write", name=name) for name in ("a", "b", "c")}
        other_key = create_key(cp, ADMIN, other, "events:write")
        for key in [*keys.values(), other_key]:
            assert _send(gw, key_header(key)).status_code == 200  # cached now
        ids = {
            k["name"]: k["id"]
            for k in cp.get(f"/v1/tenants/{tenant}/api-keys", headers=ADMIN).json()["items"]
        }

        assert cp.delete(f"/v1/tenants/{tenant}/api-keys/{ids['a']}", headers=ADMIN).status_code == 200
        r = _send(gw, key_header(keys["a"]))
        if r.status_code != 401:  # the announcement may be a few ms behind the response
            _seconds_until_401(gw, key_header(keys["a"]))
        r = _send(gw, key_header(keys["a"]))
        assert r.status_code == 401 and r.json()["errors"][0]["reason"] == "API key is revoked", r.text
        assert _send(gw, key_header(keys["b"])).status_code == 200  # the tenant's other keys still work

        rotated = cp.post(f"/v1/tenants/{tenant}/api-keys/{ids['b']}/rotate", headers=ADMIN)
        assert rotated.status_code == 201, rotated.text
        _seconds_until_401(gw, key_header(keys["b"]))
        assert _send(gw, key_header(rotated.json()["key"])).status_code == 200

        assert cp.delete(f"/v1/tenants/{tenant}", headers=ADMIN).status_code == 200
        _seconds_until_401(gw, key_header(keys["c"]))
        r = _send(gw, key_header(keys["c"]))
        assert r.status_code == 401, r.text  # a deleted tenant's key: 401, not 503 + Retry-After
        assert "retry-after" not in r.headers
        assert _send(gw, key_header(other_key)).status_code == 200  # other tenants unaffected


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_expiring_key_stops_working_when_it_expires(
    make_client: AppFactory, database_url: str, tmp_path: Path, redis_url: str
) -> None:
    with _platform(make_client, database_url, tmp_path, redis_url) as (cp, gw):
        tenant = create_tenant(cp, ADMIN)["id"]
        expires = datetime.now(UTC) + timedelta(seconds=3)
        r = cp.post(
            f"/v1/tenants/{tenant}/api-keys",
            json={"name": "short", "scopes": ["events:write"], "expires_at": expires.isoformat()},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        headers = key_header(r.json()["key"])
        assert _send(gw, headers).status_code == 200  # cached now, for up to 30 s
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
        r = _send(gw, headers)
        assert r.status_code == 401, r.text
        assert r.json()["errors"][0]["reason"] == "API key is expired"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_in_one_process_a_revoked_key_fails_on_the_very_next_request(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    """The embedded platform (no Redis): the announcement is a direct call, so no delay at all."""
    with _platform(make_client, database_url, tmp_path, None, LocalAuthChanges()) as (cp, gw):
        tenant = create_tenant(cp, ADMIN)["id"]
        key = create_key(cp, ADMIN, tenant, "events:write")
        assert _send(gw, key_header(key)).status_code == 200
        key_id = cp.get(f"/v1/tenants/{tenant}/api-keys", headers=ADMIN).json()["items"][0]["id"]
        assert cp.delete(f"/v1/tenants/{tenant}/api-keys/{key_id}", headers=ADMIN).status_code == 200
        assert _send(gw, key_header(key)).status_code == 401
        other = create_key(cp, ADMIN, tenant, "events:write", name="other")
        assert _send(gw, key_header(other)).status_code == 200
        assert (
            cp.patch(
                f"/v1/tenants/{tenant}", json={"quotas": {"events_per_second": 1}}, headers=ADMIN
            ).status_code
            == 200
        )
        statuses = [_send(gw, key_header(other), n).status_code for n in range(5)]
        assert 429 in statuses, statuses  # the lowered quota applies at once too


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_conflicting_credentials_are_refused_naming_both_headers(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    with _platform(make_client, database_url, tmp_path, None) as (cp, gw):
        tenant = create_tenant(cp, ADMIN)["id"]
        key = create_key(cp, ADMIN, tenant, "events:write", "admin")
        cases: list[tuple[dict[str, str], int]] = [
            ({"Authorization": f"Bearer {key}", "X-API-Key": "garbage"}, 401),
            ({"Authorization": "Bearer garbage", "X-API-Key": key}, 401),
            ({"Authorization": f"Bearer {key}", "X-API-Key": key}, 200),
            ({"Authorization": f"Bearer {key}", "X-API-Key": ""}, 200),
            ({"X-API-Key": key}, 200),
            ({"Authorization": f"Bearer {key}"}, 200),
        ]
        for client, path in ((gw, None), (cp, f"/v1/tenants/{tenant}/api-keys")):
            for headers, expected in cases:
                r: Any = _send(client, headers) if path is None else client.get(path, headers=headers)
                assert r.status_code == expected, (headers, r.text)
                if expected == 401:
                    assert {e["field"] for e in r.json()["errors"]} == {"authorization", "x-api-key"}
                    assert "conflicting credentials" in r.json()["detail"]
