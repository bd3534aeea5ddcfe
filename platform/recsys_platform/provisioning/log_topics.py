"""Embedded adapter of the provisioning port: the tenant's topics in the SQLite event log."""

from __future__ import annotations

from recsys_platform.events.sqlite_log import SqliteEventLog
from recsys_platform.provisioning.kafka_topics import TOPIC_KINDS, topic_name
from recsys_platform.provisioning.ports import ResourceRef, TenantContext


class SqliteLogTopicProvisioner:
    """Same topic names as on Kafka, so the gateway and processor code do not change."""

    name = "event_log"

    def __init__(self, log: SqliteEventLog, prefix: str) -> None:
        self._log = log
        self._prefix = prefix

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        names = [topic_name(self._prefix, tenant.tenant_id, kind) for kind in TOPIC_KINDS]
        self._log.ensure_topics(names)
        return [ResourceRef("log_topic", n) for n in names]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        self._log.delete_topics([r.name for r in resources if r.kind == "log_topic"])

    def check(self) -> None:
        self._log.check()

    def close(self) -> None:
        self._log.close()
