"""Gateway -> Kafka (impressions, clicks) -> stream processor -> per-variant CTR results."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.experiments.service import ExperimentService
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.settings import KafkaSettings
from recsys_platform.stream.attribution import Attribution

from tests.integration.event_path import auth, new_prefix
from tests.integration.gateway.fake_servers import FakeModelServer
from tests.integration.gateway.recs_env import add_deployment, gateway, run_experiment
from tests.integration.stream_harness import EventPath, build_event_path

pytestmark = pytest.mark.integration
TENANT = "ab-shop"


@pytest.fixture(scope="module")
def path(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str
) -> Iterator[EventPath]:
    tmp_path = tmp_path_factory.mktemp("attribution")
    prefix = new_prefix()
    log = KafkaEventLog(kafka_bootstrap)
    topics = KafkaTopicProvisioner(KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix))
    p = build_event_path(tmp_path, log, prefix, topics, redis_url)
    p.platform.onboard(TENANT, use_case="ecommerce", events_per_second=10_000, requests_per_second=10_000)
    server = FakeModelServer("default", tmp_path, None, "beta")  # one process serves both
    try:
        server.start()
        for name in server.names:
            add_deployment(p.platform, TENANT, name, server.endpoint)
        yield p
    finally:
        server.kill()
        p.platform.tenants.delete(TENANT)
        log.close()


def _click(rec_id: str, user: str, item: str) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": user,
        "item_id": item,
        "type": "click",
        "timestamp": datetime.now(UTC).isoformat(),
        "recommendation_id": rec_id,
    }


def _counts(service: ExperimentService, name: str) -> dict[str, tuple[int, int]]:
    return {v.variant: (v.impressions, v.clicks) for v in service.results(TENANT, name).variants}


def _wait_results(
    service: ExperimentService, want: dict[str, tuple[int, int]], timeout: float = 30.0
) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    got: dict[str, tuple[int, int]] = {}
    while time.monotonic() < deadline:
        results = service.results(TENANT, "ctr-test")
        got = {v.variant: (v.impressions, v.clicks) for v in results.variants}
        if got == want:
            return {v.variant: v for v in results.variants}
        time.sleep(0.1)
    raise AssertionError(f"results never reached {want}; last {got}")


def test_clicks_on_recommendations_give_ctr_per_variant_once(path: EventPath) -> None:
    platform = path.platform
    run_experiment(platform, TENANT, "ctr-test", "default", control="default", treatment="beta")
    service = ExperimentService(platform.sessions)
    rec_key = platform.key(TENANT, "recommendations:read")
    ev_key = platform.key(TENANT, "events:write")
    served: dict[str, list[tuple[str, str, str]]] = {"control": [], "treatment": []}
    with gateway(platform, path.log) as client:
        for i in range(60):
            body = client.post(
                "/v1/recommendations", json={"user_id": f"u{i}", "n": 3}, headers=auth(rec_key)
            )
            assert body.status_code == 200, body.text
            r = body.json()
            served[r["variant"]].append((r["recommendation_id"], f"u{i}", r["items"][0]["item_id"]))
        # treatment users click every list (twice: counts once); control users every other list
        clicks = [_click(rec, user, item) for rec, user, item in served["treatment"]] * 2
        clicks += [_click(rec, user, item) for rec, user, item in served["control"][::2]]
        clicks.append(_click("not-a-recommendation", "u1", "x"))  # never counted
        posted = client.post("/v1/events", json={"events": clicks}, headers=auth(ev_key))
        assert posted.status_code == 200 and posted.json()["accepted"] == len(clicks), posted.text

    # the impressions are in the tenant's Kafka impressions topic, with trace context
    topic = platform.topic(TENANT, "impressions")
    consumer = path.log.consumer(f"check-{uuid.uuid4().hex[:8]}", re.escape(topic))
    logged: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 20
    while len(logged) < 60 and time.monotonic() < deadline:
        for record in consumer.poll(500, 0.2):
            body = json.loads(record.value)
            assert any(k == "traceparent" for k, _ in record.headers)
            logged[body["recommendation_id"]] = body
    consumer.close()
    for variant, lists in served.items():
        for rec, user, item in lists:
            assert logged[rec]["variant"] == variant and logged[rec]["user_id"] == user
            assert logged[rec]["items"][0] == item and logged[rec]["propensities"] == [0.5, 0.5, 0.5]  # type: ignore[index]

    n_control, n_treatment = len(served["control"]), len(served["treatment"])
    want = {"control": (n_control, (n_control + 1) // 2), "treatment": (n_treatment, n_treatment)}
    assert n_control > 10 and n_treatment > 10
    with path.running(attribution=Attribution(platform.sessions)):
        variants = _wait_results(service, want)
    assert variants["treatment"].ctr == pytest.approx(1.0)
    assert variants["control"].ctr == pytest.approx(want["control"][1] / n_control)
    assert variants["treatment"].p_value is not None and variants["treatment"].significant is True

    # a restarted processor (new consumer of the same group) counts nothing twice
    with path.running(attribution=Attribution(platform.sessions)):
        time.sleep(1.5)
    assert _counts(service, "ctr-test") == want
    service.stop(TENANT, "ctr-test")


def test_redelivery_after_a_crash_counts_once(path: EventPath) -> None:
    platform = path.platform
    run_experiment(platform, TENANT, "crash-test", "default", control="default", treatment="beta")
    service = ExperimentService(platform.sessions)
    rec_key = platform.key(TENANT, "recommendations:read")
    ev_key = platform.key(TENANT, "events:write")
    with gateway(platform, path.log) as client:
        recs = [
            client.post("/v1/recommendations", json={"user_id": f"c{i}"}, headers=auth(rec_key)).json()
            for i in range(10)
        ]
        clicks = [
            _click(r["recommendation_id"], f"c{i}", r["items"][0]["item_id"]) for i, r in enumerate(recs)
        ]
        assert client.post("/v1/events", json={"events": clicks}, headers=auth(ev_key)).status_code == 200
    by_variant: dict[str, int] = {}
    for r in recs:
        by_variant[r["variant"]] = by_variant.get(r["variant"], 0) + 1
    want = {v: (by_variant.get(v, 0), by_variant.get(v, 0)) for v in ("control", "treatment")}

    crashed = path.processor(attribution=Attribution(platform.sessions))
    crashed._consumer.commit = lambda: None  # type: ignore[method-assign]  # crash before committing
    deadline = time.monotonic() + 30
    got: dict[str, tuple[int, int]] = {}
    while time.monotonic() < deadline and got != want:
        crashed.process_once()
        got = _counts(service, "crash-test")
    crashed._consumer.close()
    assert got == want, "the crashed processor never applied the batch"
    with path.running(attribution=Attribution(platform.sessions)):
        time.sleep(2.0)  # the whole uncommitted log comes again
    assert _counts(service, "crash-test") == want
