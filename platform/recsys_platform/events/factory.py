"""Pick the configured ``EventLog`` adapter (the only place that knows both)."""

from __future__ import annotations

from pathlib import Path

from recsys_platform.events.log import EventLog
from recsys_platform.settings import EventLogSettings


def build_event_log(settings: EventLogSettings, client_id: str) -> EventLog:
    if settings.backend == "kafka":
        from recsys_platform.events.kafka_log import KafkaEventLog

        assert settings.kafka.bootstrap_servers is not None
        kafka_log: EventLog = KafkaEventLog(settings.kafka.bootstrap_servers, client_id=client_id)
        return kafka_log
    from recsys_platform.events.sqlite_log import SqliteEventLog

    return SqliteEventLog(Path(settings.sqlite_path))
