"""Run the stream processor as a service: health and metrics endpoint, graceful stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.checkpoints import MlflowCheckpoints
from recsys_platform.bandit.loop import BanditLoop, BanditLoopMetrics
from recsys_platform.db.engine import build_engine, database_check, session_factory
from recsys_platform.events.factory import build_event_log
from recsys_platform.features.ports import UserFeatureStore
from recsys_platform.offline.parquet_store import OfflineEventStore
from recsys_platform.privacy.erasure import Eraser, ErasureRequests
from recsys_platform.settings import StreamSettings
from recsys_platform.stream.attribution import Attribution
from recsys_platform.stream.directory import TenantDirectory
from recsys_platform.stream.metrics import StreamMetrics
from recsys_platform.stream.processor import StreamProcessor
from recsys_platform.streaming.wiring import item_stats_for
from recsys_platform.web.health import ReadinessCheck, health_router

log = logging.getLogger(__name__)
SERVICE_NAME = "recsys-stream"


def build_processor(
    settings: StreamSettings,
    registry: CollectorRegistry,
    features: UserFeatureStore | None = None,
) -> tuple[StreamProcessor, list[ReadinessCheck]]:
    """Wire a processor from settings; returns it with its readiness checks."""
    engine = build_engine(settings.database.url)
    event_log = build_event_log(settings.event_log, client_id=SERVICE_NAME)
    sessions = session_factory(engine)
    if features is None:
        from recsys_platform.features.feast_store import FeastUserFeatureStore

        features = FeastUserFeatureStore(settings.feature_store)
    item_stats = item_stats_for(settings.feature_store) if settings.item_stats else None
    offline = OfflineEventStore(settings.feature_store.offline_root)
    eraser = Eraser(ErasureRequests(sessions), sessions, features, offline, item_stats)
    processor = StreamProcessor(
        event_log,
        features,
        offline,
        TenantDirectory(sessions),
        StreamMetrics(registry),
        topic_prefix=settings.event_log.kafka.topic_prefix,
        group_id=settings.group_id,
        max_batch=settings.max_batch,
        poll_timeout_seconds=settings.poll_timeout_seconds,
        retry_backoff_max_seconds=settings.retry_backoff_max_seconds,
        half_life_hours=settings.half_life_hours,
        history_items=settings.feature_store.history_items,
        item_stats=item_stats,
        eraser=eraser,
        attribution=(
            Attribution(sessions, settings.attribution_default_window_seconds)
            if settings.attribution
            else None
        ),
        bandit=_bandit_loop(settings, sessions, registry) if settings.bandit else None,
    )

    checks = [
        ReadinessCheck("database", database_check(engine)),
        ReadinessCheck("event_log", event_log.check),
        ReadinessCheck("feature_store", features.check),
    ]
    if item_stats is not None:
        checks.append(ReadinessCheck("item_stats", item_stats.check))
    checks.append(ReadinessCheck("tenants", processor.check_tenants))
    return processor, checks


def _bandit_loop(
    settings: StreamSettings, sessions: sessionmaker[Session], registry: CollectorRegistry
) -> BanditLoop:
    return BanditLoop(
        sessions,
        MlflowCheckpoints(settings.mlflow.tracking_uri, settings.mlflow.registry_name_prefix),
        BanditLoopMetrics(registry),
        checkpoint_every=settings.bandit_checkpoint_every,
        checkpoint_seconds=settings.bandit_checkpoint_seconds,
        retention_seconds=settings.bandit_log_retention_days * 86400,
    )


def health_app(checks: list[ReadinessCheck], registry: CollectorRegistry) -> FastAPI:
    app = FastAPI(title="recsys stream processor", docs_url=None, redoc_url=None)
    app.include_router(health_router(checks, registry))
    return app


def serve(settings: StreamSettings) -> None:
    """Run until SIGTERM/SIGINT; the batch in hand is finished and committed first."""
    import uvicorn

    registry = CollectorRegistry()
    processor, checks = build_processor(settings, registry)
    server = None
    if settings.metrics_port:
        server = uvicorn.Server(
            uvicorn.Config(
                health_app(checks, registry),
                host=settings.metrics_host,
                port=settings.metrics_port,
                log_config=None,
                access_log=False,
            )
        )
        threading.Thread(target=server.run, name="stream-health", daemon=True).start()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        processor.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        processor.run()
    finally:
        if server is not None:
            server.should_exit = True
