"""Tenant isolation under attack: tenant B, with its own keys, tries to reach tenant A's data,
models, deployments, keys, items and experiments through every route of both services,
every id/name/URI it can put in a path, header or body, path traversal and encoded
separators. Nothing of A's may come back and nothing of A's may change.

A's resources carry marker strings (``ALPHA-SECRET``, A's ids): every response B gets is
searched for them, and A's state is compared before and after the attacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.security.services import Platform

pytestmark = pytest.mark.integration
A, B = "alpha-shop", "bravo-shop"
SECRET = "ALPHA-SECRET"
A_ITEMS = [f"alpha-item-{n}" for n in range(6)]


@pytest.fixture(scope="module")
def tenants(
    live: tuple[Platform, dict[str, str]],
) -> Iterator[tuple[Platform, dict[str, str], dict[str, str]]]:
    p, _ = live
    a_keys, b_keys = p.onboard(A), p.onboard(B)
    with p.admin() as admin:
        items = [{"item_id": i, "title": f"{SECRET} {i}"} for i in A_ITEMS]
        assert admin.post(f"/v1/tenants/{A}/catalog/items", json={"items": items}).status_code == 200
        for name in ("default", "canary"):
            body = {"name": name, "model": {"uri": f"s3://models/{A}/1"}}
            assert admin.post(f"/v1/tenants/{A}/deployments", json=body).status_code == 201
        exp = {
            "name": "alpha-exp",
            "variants": [
                {"name": "a", "deployment": "default", "weight": 1},
                {"name": "b", "deployment": "canary", "weight": 1},
            ],
        }
        assert admin.post(f"/v1/tenants/{A}/experiments", json=exp).status_code == 201
    with httpx.Client(base_url=p.gateway, headers={"Authorization": f"Bearer {a_keys['all']}"}) as gw:
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "event_id": f"a-{u}-{i}",
                "user_id": f"alpha-user-{u}",
                "item_id": i,
                "type": "click",
                "timestamp": now,
            }
            for u in range(3)
            for i in A_ITEMS
        ]
        assert gw.post("/v1/events", json={"events": events}).status_code == 200
    with p.admin() as admin:
        MARKERS.append(admin.get(f"/v1/tenants/{A}/experiments/alpha-exp").json()["id"])
        MARKERS.extend(k["prefix"] for k in admin.get(f"/v1/tenants/{A}/api-keys").json()["items"])
        MARKERS.extend(d["id"] for d in admin.get(f"/v1/tenants/{A}/deployments").json()["items"])
    yield p, a_keys, b_keys


def _a_state(p: Platform) -> str:
    """Everything of A's the platform admin can read, as one comparable string."""
    with p.admin() as admin:
        parts = [
            admin.get(f"/v1/tenants/{A}").json(),
            sorted((k["id"], k["status"]) for k in admin.get(f"/v1/tenants/{A}/api-keys").json()["items"]),
            admin.get(f"/v1/tenants/{A}/catalog/items").json(),
            admin.get(f"/v1/tenants/{A}/catalog/schema").json(),
            [(d["name"], d["model_uri"]) for d in admin.get(f"/v1/tenants/{A}/deployments").json()["items"]],
            admin.get(f"/v1/tenants/{A}/experiments").json(),
        ]
    text = json.dumps(parts, sort_keys=True, default=str)
    for volatile in ("updated_at", "last_used_at"):
        text = text.replace(volatile, "")
    return text


#: What only A's data contains and B never sends: item titles, A's model location, and (filled
#: in by the fixture) A's experiment id and key prefixes. Ids B names itself are echoed in
#: error messages ("instance") and are no leak.
MARKERS: list[str] = [SECRET, f"s3://models/{A}"]


def _leaks(response: httpx.Response) -> list[str]:
    return [marker for marker in MARKERS if marker in response.text]


def _path_variants() -> list[str]:
    """Ways to spell A's id where B's path segment (or A's) is expected."""
    return [
        A,
        A.upper(),
        f"{A}%00",
        "%61lpha-shop",  # percent-encoded letter
        f"{B}/../{A}",
        f"{B}%2F..%2F{A}",
        f"{B}%252F..%252F{A}",
        f"./{A}",
        f"{A}/",
        f"{A}%2F",
        f"{B};{A}",
        f"{A}%20",
        f"{A}\\",
    ]


CONTROL_PLANE_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/tenants/{t}", None),
    ("PATCH", "/v1/tenants/{t}", {"display_name": "pwned"}),
    ("DELETE", "/v1/tenants/{t}", None),
    ("GET", "/v1/tenants/{t}/api-keys", None),
    ("POST", "/v1/tenants/{t}/api-keys", {"name": "backdoor", "scopes": ["admin"]}),
    ("DELETE", "/v1/tenants/{t}/api-keys/{key}", None),
    ("POST", "/v1/tenants/{t}/api-keys/{key}/rotate", None),
    ("GET", "/v1/tenants/{t}/catalog/schema", None),
    ("PUT", "/v1/tenants/{t}/catalog/schema", {"fields": []}),
    ("GET", "/v1/tenants/{t}/catalog/items", None),
    ("POST", "/v1/tenants/{t}/catalog/items", {"items": [{"item_id": "alpha-item-0", "title": "pwned"}]}),
    ("GET", "/v1/tenants/{t}/catalog/items/alpha-item-0", None),
    ("DELETE", "/v1/tenants/{t}/catalog/items/alpha-item-0", None),
    ("GET", "/v1/tenants/{t}/experiments", None),
    (
        "POST",
        "/v1/tenants/{t}/experiments",
        {
            "name": "x",
            "variants": [
                {"name": "a", "deployment": "default", "weight": 1},
                {"name": "b", "deployment": "canary", "weight": 1},
            ],
        },
    ),
    ("GET", "/v1/tenants/{t}/experiments/alpha-exp", None),
    ("POST", "/v1/tenants/{t}/experiments/alpha-exp/start", None),
    ("POST", "/v1/tenants/{t}/experiments/alpha-exp/stop", None),
    ("GET", "/v1/tenants/{t}/experiments/alpha-exp/results", None),
    ("GET", "/v1/tenants/{t}/deployments", None),
    ("POST", "/v1/tenants/{t}/deployments", {"name": "x", "model": {"alias": "champion"}}),
    ("GET", "/v1/tenants/{t}/deployments/default", None),
    ("PUT", "/v1/tenants/{t}/deployments/default", {"model": {"version": 1}}),
    ("DELETE", "/v1/tenants/{t}/deployments/default", None),
    ("GET", "/v1/tenants/{t}/training-runs", None),
    ("POST", "/v1/tenants/{t}/training-runs", {}),
    ("GET", "/v1/tenants/{t}/training-runs/r1", None),
    ("GET", "/v1/tenants/{t}/training-schedule", None),
    ("PUT", "/v1/tenants/{t}/training-schedule", {"cron": "0 3 * * *"}),
    ("DELETE", "/v1/tenants/{t}/training-schedule", None),
    ("GET", "/v1/tenants/{t}/models", None),
    ("POST", "/v1/tenants/{t}/models/champion", {"version": "1"}),
    ("POST", "/v1/tenants/{t}/models/champion/rollback", None),
]


def test_tenant_b_reaches_nothing_of_tenant_a_on_the_control_plane(
    tenants: tuple[Platform, dict[str, str], dict[str, str]],
) -> None:
    p, _, b_keys = tenants
    before = _a_state(p)
    with p.admin() as admin:
        a_key_id = admin.get(f"/v1/tenants/{A}/api-keys").json()["items"][0]["id"]
    attempts, leaks, accepted = 0, [], []
    with httpx.Client(base_url=p.control_plane, timeout=30) as cp:
        for key in (b_keys["admin"], b_keys["all"]):
            for header in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
                extra = {"X-Tenant-Id": A, "X-Forwarded-Host": A, "X-Original-URL": f"/v1/tenants/{A}"}
                for method, template, body in CONTROL_PLANE_ROUTES:
                    for spelled in _path_variants():
                        url = template.replace("{t}", spelled).replace("{key}", a_key_id)
                        r = cp.request(method, url, json=body, headers={**header, **extra})
                        attempts += 1
                        if _leaks(r):
                            leaks.append((method, url, r.status_code, _leaks(r)))
                        if r.status_code < 300 and spelled != A:
                            # an accepted spelling must have meant B's own resources, never A's
                            accepted.append((method, url, r.status_code))
                        elif spelled == A:
                            assert r.status_code in (401, 403), (method, url, r.status_code, r.text)
        # B's own routes, with A's names in every body field and query
        own = {"Authorization": f"Bearer {b_keys['admin']}"}
        bodies = [
            (
                "POST",
                f"/v1/tenants/{B}/deployments",
                {"name": "steal", "model": {"uri": f"models:/recsys-{A}@champion"}},
            ),
            (
                "POST",
                f"/v1/tenants/{B}/deployments",
                {"name": "steal", "model": {"uri": f"s3://models/{A}/1"}},
            ),
            (
                "POST",
                f"/v1/tenants/{B}/deployments",
                {"name": "steal", "model": {"alias": f"../recsys-{A}@champion"}},
            ),
            (
                "POST",
                f"/v1/tenants/{B}/deployments",
                {"name": "steal", "model": {"version": f"1/../../recsys-{A}/1"}},
            ),
            (
                "POST",
                f"/v1/tenants/{B}/experiments",
                {
                    "name": "steal",
                    "variants": [
                        {"name": "a", "deployment": "default", "weight": 1},
                        {"name": "b", "deployment": f"{A}/canary", "weight": 1},
                    ],
                },
            ),
            ("GET", f"/v1/tenants/{B}/catalog/items/alpha-item-0", None),
            ("GET", f"/v1/tenants/{B}/catalog/items?cursor=alpha-item-0&tenant_id={A}", None),
            ("GET", f"/v1/tenants/{B}/catalog/items/..%2F..%2F{A}%2Fcatalog%2Fitems%2Falpha-item-0", None),
            ("GET", f"/v1/tenants/{B}/deployments/default", None),
            ("GET", f"/v1/tenants/{B}/experiments/alpha-exp/results", None),
            ("POST", f"/v1/tenants/{B}/api-keys", {"name": "x", "scopes": ["admin"], "tenant_id": A}),
            ("GET", "/v1/tenants", None),
            ("GET", f"/v1/tenants?include_deleted=true&id={A}", None),
            ("GET", "/v1/me", None),
        ]
        for method, url, body in bodies:
            r = cp.request(method, url, json=body, headers=own)
            attempts += 1
            assert r.status_code < 500, (method, url, r.text)
            if url.endswith(("/deployments", "/experiments")):  # never serves or routes to A's model
                assert r.status_code in (403, 404, 422), (method, url, body, r.text)
            if _leaks(r):
                leaks.append((method, url, r.status_code, _leaks(r)))
    assert leaks == [], leaks
    assert _a_state(p) == before  # nothing of A's changed
    # a spelling B's key got a 2xx for was B's own tenant (or a harmless list), never A's
    assert all(B in url or "/v1/tenants/" not in url for _, url, _ in accepted), accepted
    assert attempts > 1500


def test_tenant_b_reaches_nothing_of_tenant_a_on_the_gateway(
    tenants: tuple[Platform, dict[str, str], dict[str, str]],
) -> None:
    p, _, b_keys = tenants
    before = _a_state(p)
    leaks, attempts = [], 0
    headers = {"Authorization": f"Bearer {b_keys['all']}", "X-Tenant-Id": A}
    now = datetime.now(UTC).isoformat()
    with httpx.Client(base_url=p.gateway, headers=headers, timeout=30) as gw:
        requests: list[tuple[str, str, Any]] = [
            ("POST", "/v1/recommendations", {"user_id": "alpha-user-0", "n": 50}),
            ("POST", "/v1/recommendations", {"user_id": "alpha-user-1", "n": 50, "surface": "default"}),
            ("POST", "/v1/recommendations", {"user_id": "alpha-user-0", "n": 10, "tenant_id": A}),
            ("POST", "/v1/recommendations", {"user_id": f"{A}/alpha-user-0", "n": 10}),
            (
                "POST",
                "/v1/recommendations",
                {"user_id": "u", "n": 10, "context": {"tenant": A, "deployment": "default"}},
            ),
            ("POST", "/v1/recommendations", {"user_id": "u", "n": 10, "deployment": "default"}),
            ("POST", "/v1/recommendations", {"user_id": "u", "n": 10, "experiment": "alpha-exp"}),
            ("POST", "/v1/rerank", {"user_id": "alpha-user-0", "items": A_ITEMS}),
            ("POST", "/v1/rerank", {"user_id": "alpha-user-0", "items": ["x"], "tenant_id": A}),
            ("GET", "/v1/items/alpha-item-0/similar?n=10", None),
            ("GET", f"/v1/items/..%2F..%2F{A}%2Falpha-item-0/similar", None),
            ("GET", f"/v1/items/alpha-item-0/similar?tenant_id={A}", None),
            (
                "POST",
                "/v1/events",
                {
                    "events": [
                        {
                            "event_id": "b1",
                            "user_id": "alpha-user-0",
                            "item_id": "alpha-item-0",
                            "type": "click",
                            "timestamp": now,
                            "tenant_id": A,
                        }
                    ]
                },
            ),
            (
                "POST",
                f"/v1/events?tenant_id={A}",
                {
                    "events": [
                        {
                            "event_id": "b2",
                            "user_id": "alpha-user-0",
                            "item_id": "alpha-item-0",
                            "type": "click",
                            "timestamp": now,
                        }
                    ]
                },
            ),
        ]
        for method, url, body in requests:
            for extra in ({}, {"X-API-Key": b_keys["all"]}, {"Host": f"{A}.example"}):
                r = gw.request(method, url, json=body, headers=extra)
                attempts += 1
                assert r.status_code < 500, (method, url, r.status_code, r.text)
                if _leaks(r):
                    leaks.append((method, url, r.status_code, _leaks(r)))
                if url.startswith("/v1/recommendations") and r.status_code == 200:
                    got = {i["item_id"] for i in r.json()["items"]}
                    assert not got & set(A_ITEMS), (url, got)  # A's popular items never reach B
    assert leaks == [], leaks
    assert _a_state(p) == before
    assert attempts >= 40
