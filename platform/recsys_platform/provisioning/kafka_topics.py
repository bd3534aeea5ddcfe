"""Kafka adapter of the provisioning port: one events, impressions and dead-letter topic per tenant."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    NoError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from recsys_platform.provisioning.ports import ResourceRef, TenantContext
from recsys_platform.settings import KafkaSettings

log = logging.getLogger(__name__)
DAY_MS = 24 * 3600 * 1000
TOPIC_KINDS = ("events", "impressions", "dead-letter")


def topic_name(prefix: str, tenant_id: str, kind: str) -> str:
    """The one place that names a tenant's topics: ``<prefix>.<tenant>.<kind>``."""
    return f"{prefix}.{tenant_id}.{kind}"


class KafkaTopicProvisioner:
    """Creates the tenant's topics with retention from the tenant's data-retention policy."""

    name = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        if not settings.bootstrap_servers:
            raise ValueError("kafka.bootstrap_servers is required for topic provisioning")
        self._settings = settings
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def _client(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self._settings.bootstrap_servers,
                    client_id="recsys-control-plane",
                    request_timeout_ms=self._settings.request_timeout_ms,
                    bootstrap_timeout_ms=self._settings.request_timeout_ms,
                )
            return self._admin

    def _reset(self) -> None:
        with self._lock:
            if self._admin is not None:
                try:
                    self._admin.close()
                except Exception:  # closing a broken client must not mask the real error
                    log.debug("closing kafka admin client failed", exc_info=True)
            self._admin = None

    def topics_for(self, tenant: TenantContext) -> list[tuple[str, dict[str, str]]]:
        retention = {
            "events": tenant.retention.events_days * DAY_MS,
            "impressions": tenant.retention.impressions_days * DAY_MS,
            "dead-letter": tenant.retention.events_days * DAY_MS,
        }
        return [
            (
                topic_name(self._settings.topic_prefix, tenant.tenant_id, kind),
                {"retention.ms": str(retention[kind]), "cleanup.policy": "delete"},
            )
            for kind in TOPIC_KINDS
        ]

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        wanted = self.topics_for(tenant)
        request = {
            name: {
                "num_partitions": self._settings.partitions,
                "replication_factor": self._settings.replication_factor,
                "configs": config,
            }
            for name, config in wanted
        }
        try:
            result = self._client().create_topics(
                request, timeout_ms=self._settings.request_timeout_ms, raise_errors=False
            )
            _raise_topic_errors(result, tolerated=TopicAlreadyExistsError)
            self._client().wait_for_topics(list(request), timeout_ms=self._settings.request_timeout_ms)
        except KafkaError:
            self._reset()
            raise
        return [ResourceRef("kafka_topic", name) for name, _ in wanted]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        names = [r.name for r in resources if r.kind == "kafka_topic"]
        if not names:
            return
        try:
            existing = set(self._client().list_topics())
            names = [n for n in names if n in existing]
            if names:
                result = self._client().delete_topics(
                    names, timeout_ms=self._settings.request_timeout_ms, raise_errors=False
                )
                _raise_topic_errors(result, tolerated=UnknownTopicOrPartitionError)
                self._wait_until_gone(names)
        except KafkaError:
            self._reset()
            raise

    def _wait_until_gone(self, names: list[str]) -> None:
        """Topic deletion is asynchronous in KRaft; return once metadata no longer lists them."""
        deadline = time.monotonic() + self._settings.request_timeout_ms / 1000
        while True:
            remaining = set(names) & set(self._client().list_topics())
            if not remaining:
                return
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"topics still listed after delete: {sorted(remaining)}")
            time.sleep(0.1)

    def list_topics(self) -> list[str]:
        try:
            return list(self._client().list_topics())
        except KafkaError:
            self._reset()
            raise

    def check(self) -> None:
        self.list_topics()

    def close(self) -> None:
        self._reset()


def _raise_topic_errors(result: dict[str, Any], tolerated: type[KafkaError]) -> None:
    """kafka-python returns per-topic error codes; raise the first one not tolerated."""
    for topic in result.get("topics", []):
        err = for_code(topic.get("error_code", 0))
        if err is NoError or issubclass(err, tolerated):
            continue
        raise err(f"topic {topic.get('name')}: {topic.get('error_message') or err.__name__}")
