"""Helpers of the training tests: a control plane with training on (SQLite DB, the shared MLflow
server, kfp.local, tmp folders) and a tenant data generator."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from recsys_platform.offline.parquet_store import OfflineEvent, OfflineEventStore
from recsys_platform.settings import ControlPlaneSettings

from tests.factories import ADMIN, ADMIN_TOKEN

TOPICS = {
    "sport": "football match goal league striker",
    "politics": "election vote parliament minister policy",
    "science": "physics experiment quantum laboratory research",
    "cooking": "recipe kitchen oven flavour dinner",
}
#: A fast model: no learned ranker, few ALS iterations (the pipeline, not the model, is under test).
FAST_MODEL = {
    "ranker": {"enabled": False},
    "generators": [
        {"kind": "ease"},
        {"kind": "als", "iterations": 3},
        {"kind": "item_knn"},
        {"kind": "content"},
    ],
}


class TrainingEnv:
    """The app client plus where its data lives."""

    def __init__(self, client: TestClient, settings: ControlPlaneSettings, tmp: Path) -> None:
        self.client = client
        self.settings = settings
        self.tmp = tmp
        self.offline = OfflineEventStore(settings.feature_store.offline_root)

    def new_tenant(self, *, catalog_schema: dict[str, Any] | None = None) -> str:
        tenant_id = f"tr-{uuid.uuid4().hex[:8]}"
        body: dict[str, Any] = {"id": tenant_id, "display_name": tenant_id, "use_case": "news"}
        if catalog_schema is not None:
            body["catalog_schema"] = catalog_schema
        response = self.client.post("/v1/tenants", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        return tenant_id

    def import_items(self, tenant_id: str, items: list[dict[str, Any]]) -> None:
        response = self.client.post(
            f"/v1/tenants/{tenant_id}/catalog/items", json={"items": items}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text

    def seed(
        self, tenant_id: str, *, users: int = 40, events_per_user: int = 15, with_text: bool = True
    ) -> None:
        """Topic catalog (10 items per topic) and events where each user mostly reads one topic."""
        rng = random.Random(7)
        items = []
        for topic, words in TOPICS.items():
            for i in range(10):
                record: dict[str, Any] = {"item_id": f"{topic}-{i}", "category": topic}
                if with_text:
                    record["title"] = f"{topic} story {i}: {words}"
                items.append(record)
        self.import_items(tenant_id, items)
        self.write_events(tenant_id, self.events(rng, users, events_per_user))

    @staticmethod
    def events(rng: random.Random, users: int, per_user: int) -> list[OfflineEvent]:
        start = datetime(2026, 11, 1, tzinfo=UTC)
        topics = list(TOPICS)
        out = []
        for u in range(users):
            favourite = topics[u % len(topics)]
            for k in range(per_user):
                topic = favourite if rng.random() < 0.85 else rng.choice(topics)
                at = start + timedelta(hours=rng.uniform(0, 240))
                out.append(
                    OfflineEvent(
                        event_id=f"e-{u}-{k}",
                        user_id=f"user-{u}",
                        item_id=f"{topic}-{rng.randrange(10)}",
                        type="click",
                        timestamp=at,
                        received_at=at,
                    )
                )
        return out

    def write_events(self, tenant_id: str, events: list[OfflineEvent]) -> None:
        self.offline.append(tenant_id, events, batch_id=uuid.uuid4().hex)

    def start_run(self, tenant_id: str, **params: Any) -> dict[str, Any]:
        body = {"params": {"model": FAST_MODEL, **params}}
        response = self.client.post(f"/v1/tenants/{tenant_id}/training-runs", json=body, headers=ADMIN)
        assert response.status_code == 202, response.text
        run: dict[str, Any] = response.json()
        assert run["status"] == "queued"
        return run

    def wait(self, tenant_id: str, run_id: str, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.client.get(f"/v1/tenants/{tenant_id}/training-runs/{run_id}", headers=ADMIN)
            assert response.status_code == 200, response.text
            run: dict[str, Any] = response.json()
            if run["status"] in ("succeeded", "failed"):
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']} at {run['stage']}"
            time.sleep(0.2)

    def train(self, tenant_id: str, **params: Any) -> dict[str, Any]:
        return self.wait(tenant_id, self.start_run(tenant_id, **params)["id"])

    def models(self, tenant_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/tenants/{tenant_id}/models", headers=ADMIN)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def training_settings(tmp: Path, mlflow_uri: str, **overrides: Any) -> ControlPlaneSettings:
    """Every location in ``tmp``; a registry prefix of its own so runs never meet older tenants."""
    return ControlPlaneSettings(
        admin_token=ADMIN_TOKEN,
        database={"url": f"sqlite:///{tmp / 'control-plane.db'}"},
        event_log={"backend": "sqlite", "sqlite_path": str(tmp / "events.db")},
        provision_feature_store=False,
        feature_store={"offline_root": str(tmp / "offline")},
        mlflow={"tracking_uri": mlflow_uri, "registry_name_prefix": f"test-{uuid.uuid4().hex[:6]}-"},
        kfp={"mode": "local", "pipeline_root": str(tmp / "kfp")},
        training={"work_dir": str(tmp / "training"), "scheduler_interval_seconds": 3600},
        **overrides,
    )
