"""``Idempotency-Key`` on the control plane's POSTs: a retry gets the first answer, not a second
resource; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from recsys_platform.db.engine import build_engine, session_factory, transaction
from recsys_platform.db.models import IdempotencyRecord, utcnow

from tests.conftest import AppFactory
from tests.factories import ADMIN, create_key, create_tenant, key_header, tenant_payload

pytestmark = pytest.mark.integration


def test_a_retried_post_creates_once_and_answers_the_same(
    make_client: AppFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the dead registry answers at once
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with make_client(mlflow={"tracking_uri": "http://127.0.0.1:1", "provision": False}) as client:
        create_tenant(client, ADMIN, id="shop")
        url = "/v1/tenants/shop/api-keys"
        body = {"name": "web", "scopes": ["events:write"]}
        first = client.post(url, json=body, headers={**ADMIN, "Idempotency-Key": "k-1"})
        again = client.post(url, json=body, headers={**ADMIN, "Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert len(client.get(url, headers=ADMIN).json()["items"]) == 1
        # without a key, a POST creates every time
        client.post(url, json=body, headers=ADMIN)
        assert len(client.get(url, headers=ADMIN).json()["items"]) == 2

        other = client.post(url, json={**body, "name": "app"}, headers={**ADMIN, "Idempotency-Key": "k-1"})
        assert other.status_code == 422 and other.json()["errors"][0]["field"] == "idempotency-key"
        # the same key of another caller is another key
        tenant_admin = create_key(client, ADMIN, "shop", "admin")
        theirs = client.post(url, json=body, headers={**key_header(tenant_admin), "Idempotency-Key": "k-1"})
        assert theirs.status_code == 201 and theirs.json()["key"] != first.json()["key"]

        # refusals are answered again too; a 5xx or 503 is not stored (the retry runs again)
        bad = tenant_payload(id="Not OK")
        refused = [
            client.post("/v1/tenants", json=bad, headers={**ADMIN, "Idempotency-Key": "k-2"}) for _ in "ab"
        ]
        assert [r.status_code for r in refused] == [422, 422]
        assert refused[1].headers["idempotent-replayed"] == "true"
        champion = "/v1/tenants/shop/models/champion"  # the registry does not answer: 503
        down = [
            client.post(champion, json={"version": "1"}, headers={**ADMIN, "Idempotency-Key": "k-3"})
            for _ in "ab"
        ]
        assert [r.status_code for r in down] == [503, 503] and "idempotent-replayed" not in down[1].headers

        # a retry while the first request still runs: 409
        engine = build_engine(database_url)
        with transaction(session_factory(engine)) as s:
            s.add(
                IdempotencyRecord(
                    scope=_scope(), key="k-4", request_hash="x", expires_at=utcnow() + timedelta(hours=1)
                )
            )
        engine.dispose()
        running = client.post(url, json=body, headers={**ADMIN, "Idempotency-Key": "k-4"})
        assert running.status_code == 409 and running.headers["retry-after"] == "1"
        too_long = client.post(url, json=body, headers={**ADMIN, "Idempotency-Key": "x" * 201})
        assert too_long.status_code == 422

        doc = client.get("/openapi.json").json()
        params = doc["paths"]["/v1/tenants/{tenant_id}/api-keys"]["post"]["parameters"]
        assert "Idempotency-Key" in [p["name"] for p in params]


def _scope() -> str:
    import hashlib

    return hashlib.sha256(ADMIN["Authorization"].encode()).hexdigest()
