"""The contextual-bandit loop end to end on real Kafka, PostgreSQL-free SQLite platform DB and a real
MLflow server: gateway decisions -> impressions in Kafka -> clicks and skips through the events
API -> stream processor joins rewards, learns, registers checkpoints -> the gateway picks up the
new checkpoint without a restart and its choices change."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from recsys_platform.bandit.checkpoints import MlflowCheckpoints
from recsys_platform.bandit.config import PolicyConfig, RewardDefinition
from recsys_platform.bandit.loop import BanditLoop, BanditLoopMetrics
from recsys_platform.bandit.ope import CandidatePolicy, EvaluationRequest
from recsys_platform.bandit.service import PolicyEvaluator, PolicyService
from recsys_platform.catalog.schemas import CatalogField, CatalogSchema
from recsys_platform.catalog.service import CatalogService
from recsys_platform.db.engine import build_engine
from recsys_platform.events.kafka_log import KafkaEventLog
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.settings import KafkaSettings
from recsys_platform.tenancy.schemas import Quotas, TenantCreate

from tests.integration.event_path import auth, new_prefix
from tests.integration.gateway.recs_env import gateway
from tests.integration.stream_harness import EventPath, build_event_path

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
TENANT = "bandit-vid"
SURFACE = "home"
ITEMS = [f"v{i}" for i in range(1, 6)]
LIKED = ("v4", "thumb-b")  # the audience clicks v4 when shown with thumbnail b, skips the rest


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[EventPath]:
    tmp_path = tmp_path_factory.mktemp("bandit")
    prefix = new_prefix()
    log = KafkaEventLog(kafka_bootstrap)
    topics = KafkaTopicProvisioner(KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix))
    p = build_event_path(tmp_path, log, prefix, topics, None)
    schema = CatalogSchema(
        fields=[
            CatalogField(name="title", type="text", required=True),
            CatalogField(name="category", type="string"),
            CatalogField(name="duration_seconds", type="integer"),
            CatalogField(name="variants", type="variants"),
        ]
    )
    p.platform.tenants.create(
        TenantCreate(
            id=TENANT,
            display_name=TENANT,
            use_case="video",
            catalog_schema=schema,
            quotas=Quotas(requests_per_second=10_000, events_per_second=10_000),
        )
    )
    catalog = CatalogService(p.platform.sessions, build_engine(p.platform.url))
    result = catalog.upsert(
        TENANT,
        [
            {
                "item_id": item,
                "title": f"video {item}",
                "category": "drama" if i % 2 else "comedy",
                "duration_seconds": 600,
                "variants": [
                    {"id": "thumb-a", "features": {"style": "face"}},
                    {"id": "thumb-b", "features": {"style": "text"}},
                ],
            }
            for i, item in enumerate(ITEMS)
        ],
    )
    assert result.rejected == 0, result
    try:
        yield p
    finally:
        p.platform.tenants.delete(TENANT)
        log.close()


def _event(rec_id: str, user: str, item: str, kind: str, value: float | None = None) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": user,
        "item_id": item,
        "type": kind,
        "value": value,
        "timestamp": datetime.now(UTC).isoformat(),
        "recommendation_id": rec_id,
    }


def _round(client: Any, rec_key: str, ev_key: str, n: int, feedback: bool = True) -> tuple[float, list[dict]]:  # type: ignore[type-arg]
    """``n`` requests; the simulated audience reacts to the first slot. Returns the share of
    lists whose first slot is the liked item in the liked presentation."""
    answers = []
    events = []
    for i in range(n):
        r = client.post(
            "/v1/recommendations",
            json={"user_id": f"u{i % 7}", "n": 5, "surface": SURFACE, "context": {"device": "tv"}},
            headers=auth(rec_key),
        )
        assert r.status_code == 200, r.text  # no failed request while checkpoints change
        body = r.json()
        answers.append(body)
        first = body["items"][0]
        if (first["item_id"], first["presentation"]) == LIKED:
            events.append(_event(body["recommendation_id"], f"u{i % 7}", first["item_id"], "watch", 540.0))
        else:
            events.append(_event(body["recommendation_id"], f"u{i % 7}", first["item_id"], "skip"))
    if feedback:
        posted = client.post("/v1/events", json={"events": events}, headers=auth(ev_key))
        assert posted.status_code == 200 and posted.json()["accepted"] == len(events), posted.text
    liked = sum((a["items"][0]["item_id"], a["items"][0]["presentation"]) == LIKED for a in answers)
    return liked / n, answers


def test_clicks_and_skips_through_kafka_change_the_policys_choices(
    path: EventPath, mlflow_tracking_uri: str
) -> None:
    platform = path.platform
    policies = PolicyService(platform.sessions)
    config = PolicyConfig(
        mode="online", exploration=0.2, candidates=5, slots=3, reward=RewardDefinition(wait_seconds=2)
    )
    policies.put(TENANT, SURFACE, config)
    rec_key = platform.key(TENANT, "recommendations:read")
    ev_key = platform.key(TENANT, "events:write")
    name_prefix = f"t{uuid.uuid4().hex[:6]}-"
    checkpoints = MlflowCheckpoints(mlflow_tracking_uri, name_prefix)
    registry = CollectorRegistry()
    loop = BanditLoop(
        platform.sessions,
        checkpoints,
        BanditLoopMetrics(registry),
        checkpoint_every=40,
        checkpoint_seconds=1.0,
        tick_seconds=0.2,
    )
    with gateway(
        platform,
        path.log,
        bandit_refresh_seconds=0.2,
        mlflow={"tracking_uri": mlflow_tracking_uri, "registry_name_prefix": name_prefix},
    ) as client:
        before, first_answers = _round(client, rec_key, ev_key, 40)
        # every decision is logged: the impression carries the presentations and probabilities
        topic = platform.topic(TENANT, "impressions")
        consumer = path.log.consumer(f"check-{uuid.uuid4().hex[:8]}", re.escape(topic))
        logged: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 20
        while len(logged) < 40 and time.monotonic() < deadline:
            for record in consumer.poll(500, 0.2):
                body = json.loads(record.value)
                logged[body["recommendation_id"]] = body
        consumer.close()
        answer = first_answers[0]
        imp = logged[answer["recommendation_id"]]
        assert imp["items"] == [i["item_id"] for i in answer["items"]]
        assert imp["presentations"] == [i["presentation"] for i in answer["items"]]
        slots = imp["bandit"]["slots"]
        assert len(slots) == 3 and all(0 < p <= 1 for _, p in slots)
        assert imp["bandit"]["mode"] == "online" and imp["bandit"]["policy_version"] is None
        chosen = imp["bandit"]["actions"][slots[0][0]]
        assert (chosen["item"], chosen["variant"]) == (
            answer["items"][0]["item_id"],
            answer["items"][0]["presentation"],
        )

        after = before
        versions_seen: set[str | None] = set()
        with path.running(bandit=loop):
            for _ in range(12):
                time.sleep(2.5)  # the wait window closes; the processor learns and checkpoints
                versions_seen.add(client.app.state.recommend.bandit.policy_version(TENANT, SURFACE))
                after, _ = _round(client, rec_key, ev_key, 30)
                if after >= 0.7 and len(versions_seen - {None}) >= 2:
                    break
        final, answers = _round(client, rec_key, ev_key, 60, feedback=False)
        serving = client.app.state.recommend.bandit.policy_version(TENANT, SURFACE)

    log.info("liked first-slot share %.2f -> %.2f; serving checkpoint %s", before, final, serving)
    assert before < 0.4, f"the untrained policy already favoured the liked slate ({before:.2f})"
    assert final >= 0.7, f"the policy did not learn the audience's taste: {before:.2f} -> {final:.2f}"
    # exploration goes on: some lists still start with something else
    assert final < 1.0 or len({a["items"][0]["item_id"] for a in answers}) > 1
    # checkpoints are MLflow versions with lineage, and the gateway serves the newest
    versions = checkpoints.versions(TENANT, SURFACE)
    assert len(versions) >= 2
    newest, parent = versions[0], versions[1]
    assert newest["tags"]["recsys.parent_version"] == parent["version"]
    assert int(newest["tags"]["recsys.learned_from_seq"]) == int(parent["tags"]["recsys.learned_to_seq"]) + 1
    assert serving is not None and int(serving) >= 2
    state = policies.get(TENANT, SURFACE)
    assert state.checkpoint_version is not None and int(state.checkpoint_version) >= int(serving)
    assert state.learned > 0 and state.last_reward_at is not None

    # off-policy evaluation from the same log: the learned policy beats the ranker alone (which
    # shows the newest item, v5, with its first thumbnail, and gets skipped)
    evaluator = PolicyEvaluator(platform.sessions, checkpoints)
    request = EvaluationRequest(
        candidates=[
            CandidatePolicy(name="ranker", kind="ranker"),
            CandidatePolicy(name="learned", kind="checkpoint"),
            CandidatePolicy(name="learned-greedy", kind="checkpoint", exploration=0.0),
        ],
        first_slot_only=True,
    )
    result = evaluator.evaluate(TENANT, SURFACE, request)
    est = {c.name: c for c in result.candidates}
    log.info("DR estimates %s", {k: round(v.dr.value, 3) for k, v in est.items()})
    assert est["ranker"].dr.value < 0 < est["learned"].dr.value
    assert est["learned"].dr.ci_low > est["ranker"].dr.ci_high
    assert est["learned-greedy"].dr.value > est["learned"].dr.value  # no exploration cost
    assert 0 < est["ranker"].effective_sample_size < est["learned"].effective_sample_size
