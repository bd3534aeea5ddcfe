"""The gateway's OpenAPI document against what the gateway really answers, one request per
error class (401, 403, 413, 422, 429, 503) and for the successes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.events.sqlite_log import SqliteEventLog

from tests.integration.event_path import Platform, auth, event, gateway_client, new_prefix, sqlite_url
from tests.openapi_contract import check_answer, check_document, validate

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = Platform(sqlite_url(tmp_path), new_prefix(), [])
    platform.onboard("tenant-a", events_per_second=1000)
    platform.onboard("tenant-slow", events_per_second=2, requests_per_second=1)
    return platform


def test_document_names_every_model_scheme_and_operation(platform: Platform, tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    with gateway_client(platform, log) as client:
        doc = client.get("/openapi.json").json()
    check_document(doc)
    ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert ops == {"post_events", "recommend", "recommend_batch", "rerank", "similar_items"}
    schemas = doc["components"]["schemas"]
    assert schemas["EventBatch"]["properties"]["events"]["items"] == {"$ref": "#/components/schemas/Event"}
    assert set(schemas["Event"]["required"]) == {"event_id", "user_id", "item_id", "type", "timestamp"}
    assert "0-10" in schemas["Event"]["properties"]["value"]["description"]
    events = doc["paths"]["/v1/events"]["post"]
    assert {"401", "403", "413", "422", "429", "503"} <= set(events["responses"])
    assert events["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    similar = doc["paths"]["/v1/items/{item_id}/similar"]["get"]
    assert "404" in similar["responses"]
    log.close()


def test_every_error_class_is_answered_as_documented(platform: Platform, tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    log.ensure_topics([platform.topic("tenant-a"), platform.topic("tenant-slow")])
    writer = platform.key("tenant-a", "events:write")
    reader = platform.key("tenant-a", "recommendations:read")
    slow = platform.key("tenant-slow", "events:write", "recommendations:read")
    seen: set[int] = set()

    with gateway_client(platform, log, max_request_bytes=20_000) as client:
        doc = client.get("/openapi.json").json()

        def call(method: str, path: str, template: str | None = None, **kwargs: Any) -> dict[str, Any]:
            response = client.request(method, path, **kwargs)
            seen.add(response.status_code)
            return check_answer(doc, method, template or path, response)

        ok = call(
            "POST",
            "/v1/events",
            json={"events": [event(1), event(2, type="rating", value=10)]},
            headers=auth(writer),
        )
        assert ok["accepted"] == 2
        # the documented rating range is the validator's: 10 is in, 10.5 is out
        half = call(
            "POST", "/v1/events", json={"events": [event(3, type="rating", value=10.5)]}, headers=auth(writer)
        )
        assert half["results"][0]["errors"][0]["field"] == "value"
        assert call("POST", "/v1/events", json={"events": [event(4)]})["status"] == 401
        forbidden = call("POST", "/v1/events", json={"events": [event(5)]}, headers=auth(reader))
        assert forbidden["errors"][0]["field"] == "authorization"
        big = {"events": [event(n, context={"k": "x" * 200}) for n in range(200)]}
        assert call("POST", "/v1/events", json=big, headers=auth(writer))["status"] == 413
        bad = call("POST", "/v1/recommendations", json={"user_id": "u1", "n": 0}, headers=auth(reader))
        assert bad["errors"][0]["field"] == "n"
        assert call("POST", "/v1/events", json={"events": []}, headers=auth(writer))["status"] == 422
        listed = call("POST", "/v1/recommendations", json={"user_id": "u1"}, headers=auth(reader))
        assert listed["fallback"] is True
        batch = {"requests": [{"user_id": "u1", "n": 2}, {"user_id": "u2", "n": 3}]}
        answered = call("POST", "/v1/recommendations/batch", json=batch, headers=auth(reader))
        assert [len(r["items"]) <= n for r, n in zip(answered["results"], (2, 3), strict=True)] == [
            True,
            True,
        ]
        assert answered["results"][0]["recommendation_id"] != answered["results"][1]["recommendation_id"]
        too_many = {"requests": [{"user_id": f"u{i}"} for i in range(101)]}
        refused = call("POST", "/v1/recommendations/batch", json=too_many, headers=auth(reader))
        assert refused["errors"][0]["field"] == "requests"
        reranked = call(
            "POST", "/v1/rerank", json={"user_id": "u1", "items": ["a", "b"]}, headers=auth(reader)
        )
        assert [i["item_id"] for i in reranked["items"]] == ["a", "b"]
        similar = call("GET", "/v1/items/a/similar?n=3", "/v1/items/{item_id}/similar", headers=auth(reader))
        assert similar["fallback"] is True
        too_big = call(
            "POST", "/v1/events", json={"events": [event(n) for n in range(5)]}, headers=auth(slow)
        )
        assert too_big["status"] == 413  # more than the quota's burst: never accepted
        call("POST", "/v1/events", json={"events": [event(n) for n in range(2)]}, headers=auth(slow))
        quota = call("POST", "/v1/events", json={"events": [event(n) for n in range(2)]}, headers=auth(slow))
        assert quota["status"] == 429
        for _ in range(3):
            response = client.post("/v1/recommendations", json={"user_id": "u1"}, headers=auth(slow))
            if response.status_code == 429:
                break
        seen.add(response.status_code)
        check_answer(doc, "POST", "/v1/recommendations", response)
        assert response.status_code == 429

    dead = KafkaEventLog("127.0.0.1:1")
    with gateway_client(platform, dead, append_timeout_seconds=1.0) as client:
        response = client.post("/v1/events", json={"events": [event(9)]}, headers=auth(writer))
        seen.add(response.status_code)
        body = check_answer(doc, "POST", "/v1/events", response)
    assert body["unavailable"] == 1 and body["results"][0]["status"] == "unavailable"
    dead.close()
    log.close()
    assert seen == {200, 401, 403, 413, 422, 429, 503}


def test_documented_examples_are_valid(platform: Platform, tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    with gateway_client(platform, log) as client:
        doc = client.get("/openapi.json").json()
    examples = 0
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validate(doc, {"$ref": f"#/components/schemas/{name}"}, example)
            examples += 1
    assert examples >= 4
    log.close()
