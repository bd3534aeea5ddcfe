"""Hostile and broken input to ``POST /v1/events`` (finding 6 of issue 11): each bad record
gets a 4xx naming its field while the good records of the batch are kept, and a body the
server cannot read gets a status that says what is wrong with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from recsys_platform.events.log import ConsumedRecord
from recsys_platform.events.schemas import decode_envelope
from recsys_platform.events.sqlite_log import SqliteEventLog

from tests.integration.event_path import Platform, auth, event, gateway_client, new_prefix, sqlite_url

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[TestClient, str, SqliteEventLog, Platform]]:
    platform = Platform(sqlite_url(tmp_path), new_prefix(), [])
    platform.onboard("shop", events_per_second=50)
    log = SqliteEventLog(tmp_path / "events.db")
    log.ensure_topics([platform.topic("shop")])
    key = platform.key("shop", "events:write")
    with gateway_client(platform, log, max_request_bytes=8192) as client:
        yield client, key, log, platform
    log.close()


def _logged(log: SqliteEventLog, platform: Platform) -> list[ConsumedRecord]:
    consumer = log.consumer("check", platform.topic("shop").replace(".", r"\."))
    try:
        return consumer.poll(1000, 0.5)
    finally:
        consumer.close()


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"]
)
def test_an_out_of_range_timestamp_is_refused_by_field_and_the_good_records_kept(
    env: tuple[TestClient, str, SqliteEventLog, Platform], timestamp: str
) -> None:
    client, key, log, platform = env
    batch = [event("good-1"), event("bad", timestamp=timestamp), event("good-2")]
    response = client.post("/v1/events", json={"events": batch}, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["results"][1]["errors"][0]["field"] == "timestamp"
    assert [decode_envelope(r.value).event.event_id for r in _logged(log, platform)] == [
        "e-good-1",
        "e-good-2",
    ]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"events":[%s,{"event_id":"n","user_id":"u","item_id":"i","type":"watch","value":NaN,'
         '"timestamp":"2026-01-01T00:00:00Z"}]}', "value"),
        ('{"events":[%s,{"event_id":"n","user_id":"u","item_id":"i","type":"watch","value":Infinity,'
         '"timestamp":"2026-01-01T00:00:00Z"}]}', "value"),
        ('{"events":[%s,{"event_id":"n","user_id":"u","item_id":"i","type":"click",'
         '"context":{"price":-Infinity},"timestamp":"2026-01-01T00:00:00Z"}]}', "context"),
    ],
)  # fmt: skip
def test_nan_and_infinity_are_refused_naming_the_field(
    env: tuple[TestClient, str, SqliteEventLog, Platform], raw: str, field: str
) -> None:
    client, key, log, platform = env
    good = '{"event_id":"ok","user_id":"u","item_id":"i","type":"click","timestamp":"2026-01-01T00:00:00Z"}'
    headers = {**auth(key), "content-type": "application/json"}
    response = client.post("/v1/events", content=raw % good, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()["results"][1]
    assert result["status"] == "rejected" and result["errors"][0]["field"] == field, result
    assert field == "value" or "price" in result["errors"][0]["reason"]
    logged = _logged(log, platform)
    assert len(logged) == 1 and b"NaN" not in logged[0].value and b"Infinity" not in logged[0].value


def test_invalid_utf8_is_400_naming_the_body(env: tuple[TestClient, str, SqliteEventLog, Platform]) -> None:
    client, key, _, _ = env
    headers = {**auth(key), "content-type": "application/json"}
    response = client.post("/v1/events", content=b'{"events":[{"event_id":"\xff\xfe"}]}', headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [
        {"field": "body", "reason": "cannot be parsed: not UTF-8 encoded JSON"}
    ]


def test_an_oversized_chunked_body_is_413(env: tuple[TestClient, str, SqliteEventLog, Platform]) -> None:
    client, key, log, platform = env

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent with Transfer-Encoding: chunked
        yield b'{"events":['
        for i in range(200):
            yield (b"," if i else b"") + b'{"event_id":"c%d","user_id":"u","item_id":"i","type":"click",' % i
            yield b'"timestamp":"2026-01-01T00:00:00Z"}'
        yield b"]}"

    headers = {**auth(key), "content-type": "application/json"}
    response = client.post("/v1/events", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text
    assert "8192 bytes" in response.json()["detail"]
    assert _logged(log, platform) == []
    # a small chunked body still goes through
    small = client.post("/v1/events", content=iter([b'{"events":[', b'{"event_id":"s","user_id":"u",'
                        b'"item_id":"i","type":"click","timestamp":"2026-01-01T00:00:00Z"}]}']),
                        headers=headers)  # fmt: skip
    assert small.status_code == 200, small.text


def test_a_batch_larger_than_the_quota_is_413_not_429_forever(
    env: tuple[TestClient, str, SqliteEventLog, Platform],
) -> None:
    client, key, _, _ = env
    response = client.post("/v1/events", json={"events": [event(i) for i in range(51)]}, headers=auth(key))
    assert response.status_code == 413, response.text
    assert "retry-after" not in response.headers
    assert "can never be accepted" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "events"
    fits = client.post("/v1/events", json={"events": [event(i) for i in range(50)]}, headers=auth(key))
    assert fits.status_code == 200
