"""Bad impression records go to the tenant's dead-letter topic; good ones are still counted."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from recsys_platform.events.log import OutgoingRecord
from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.experiments.service import ExperimentService
from recsys_platform.gateway.impressions import Impression, encode_impression
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.stream.attribution import Attribution
from recsys_platform.stream.directory import TenantDirectory
from recsys_platform.stream.metrics import StreamMetrics
from recsys_platform.stream.processor import StreamProcessor

from tests.integration.event_path import Platform, new_prefix
from tests.integration.gateway.recs_env import add_deployment, run_experiment
from tests.integration.gateway.test_events_api import _LogTopics

pytestmark = pytest.mark.integration


def test_poison_impressions_are_dead_lettered_and_offsets_move_on(tmp_path: Path) -> None:
    prefix = new_prefix()
    log = SqliteEventLog(tmp_path / "events.db")
    platform = Platform(f"sqlite:///{tmp_path / 'platform.db'}", prefix, [_LogTopics(log, prefix)])
    platform.onboard("shop")
    add_deployment(platform, "shop", "a", "http://127.0.0.1:9")
    add_deployment(platform, "shop", "b", "http://127.0.0.1:9")
    exp_id = run_experiment(platform, "shop", "exp", "default", control="a", treatment="b")
    good = Impression(
        recommendation_id="r1", tenant_id="shop", user_id="u", session_id=None, surface="default",
        experiment="exp", experiment_id=exp_id, variant="control", deployment="a", model_version="1",
        items=["i"], positions=[1], propensities=[0.5], fallback=False, timestamp=datetime.now(UTC),
        attribution_window_seconds=60,
    )  # fmt: skip
    wrong_tenant = Impression(**{**good.__dict__, "recommendation_id": "r2", "tenant_id": "other"})
    topic = platform.topic("shop", "impressions")
    values = [b"{not json", b'{"v": 1}', encode_impression(wrong_tenant), encode_impression(good)]
    log.append(topic, [OutgoingRecord(value=v, key=b"u") for v in values])

    def processor() -> StreamProcessor:
        return StreamProcessor(
            log,
            None,  # type: ignore[arg-type]  # impressions never touch the user feature store
            OfflineEventStore(tmp_path / "offline"),
            TenantDirectory(platform.sessions),
            StreamMetrics(CollectorRegistry()),
            topic_prefix=prefix,
            group_id="stream",
            attribution=Attribution(platform.sessions),
        )

    first = processor()
    deadline = time.monotonic() + 10
    taken = 0
    while taken < 4 and time.monotonic() < deadline:
        taken += first.process_once()
    first._consumer.close()
    assert taken == 4
    results = ExperimentService(platform.sessions).results("shop", "exp")
    assert [(v.variant, v.impressions) for v in results.variants] == [("control", 1), ("treatment", 0)]

    dlq = log.consumer("check", re.escape(platform.topic("shop", "dead-letter")))
    letters = dlq.poll(100, 1.0)
    dlq.close()
    reasons = [dict(r.headers)["recsys-dlq-reason"].decode() for r in letters]
    assert len(letters) == 3 and all(r.startswith("invalid impression") for r in reasons), reasons
    assert any("does not match topic tenant" in r for r in reasons)

    second = processor()  # offsets were committed: nothing comes again
    assert second.process_once() == 0 and second.process_once() == 0
    second._consumer.close()
    log.close()
