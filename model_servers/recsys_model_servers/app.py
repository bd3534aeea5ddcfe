"""Wiring of one model-server process: settings -> loader, features, tracer, service, KServe.

Imports ``kserve``: import this module only after ``sys.argv`` is reset (``__main__`` does).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from recsys_model_servers.auth import secure_kserve_app
from recsys_model_servers.features import StreamSignalReader, UserFeatureReader
from recsys_model_servers.loader import MlflowRegistry, ModelLoader, ModelLoadError, parse_model_uri
from recsys_model_servers.schemas import PopularRequest
from recsys_model_servers.service import RecommendationService, ServiceConfig
from recsys_model_servers.settings import SERVICE_NAME, ModelServerSettings
from recsys_model_servers.tracing import RequestTracer

log = logging.getLogger("recsys_model_servers")

#: A user id no tenant has: the start-up read that builds the Feast store before traffic arrives.
WARMUP_USER = "__recsys_model_server_warmup__"


@dataclass
class ModelServerApp:
    """Everything one process runs; :func:`run` serves it and releases it."""

    settings: ModelServerSettings
    loader: ModelLoader
    features: UserFeatureReader
    tracer: RequestTracer
    service: RecommendationService
    server: Any  # kserve.ModelServer
    model: Any  # RecsysModel


class _ClientErrorsAreWarnings(logging.Filter):
    """KServe logs every ``InvalidInput`` (400), ``ModelNotFound`` (404) and ``NotImplementedError``
    (501) as an ERROR with a traceback; these are the client's problem: keep one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from kserve.errors import InvalidInput, ModelNotFound

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, InvalidInput | ModelNotFound | NotImplementedError):
            kind = "bad request" if isinstance(exc, InvalidInput) else type(exc).__name__
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args, record.exc_info, record.exc_text = f"{kind}: %s", (exc,), None, None
        return True


def quiet_library_logs() -> None:
    """Per-request timing lines of KServe off, 400s as warnings, faiss's start-up chatter off."""
    import warnings

    logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    kserve_logger = logging.getLogger("kserve")
    if not any(isinstance(f, _ClientErrorsAreWarnings) for f in kserve_logger.filters):
        kserve_logger.addFilter(_ClientErrorsAreWarnings())
    # KServe 0.21 answers with ORJSONResponse, which FastAPI deprecates (one warning per process).
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")


def build_tracer(settings: ModelServerSettings) -> RequestTracer:
    """OTLP/HTTP exporter when ``telemetry.otlp_endpoint`` is set; otherwise spans stay in-process."""
    from recsys_platform.observability.tracing import build_tracer_provider

    provider = build_tracer_provider(
        settings.telemetry.service_name or SERVICE_NAME, settings.telemetry.otlp_endpoint
    )
    return RequestTracer(provider)


def build_features(settings: ModelServerSettings) -> UserFeatureReader:
    """The tenant's Feast online store, or a reader that returns empty states when disabled."""
    if not settings.online_features:
        return UserFeatureReader(None, settings.tenant_id)
    from recsys_platform.features.feast_store import FeastUserFeatureStore

    return UserFeatureReader(FeastUserFeatureStore(settings.feature_store), settings.tenant_id)


def build_signals(settings: ModelServerSettings) -> StreamSignalReader | None:
    """The tenant's streaming item state beside its online rows (None when not read)."""
    if not settings.online_features or not settings.stream_signals or settings.tenant_id is None:
        return None
    from recsys_platform.streaming.wiring import item_stats_for

    return StreamSignalReader(item_stats_for(settings.feature_store), settings.tenant_id)


def build_loader(settings: ModelServerSettings) -> ModelLoader:
    """A loader for ``settings.model_uri`` (with an MLflow registry for ``models:/`` URIs)."""
    ref = parse_model_uri(settings.model_uri)
    registry = MlflowRegistry(settings.tracking_uri) if ref.registered_name is not None else None
    return ModelLoader(ref, registry=registry, poll_seconds=settings.alias_poll_seconds)


def build_server(settings: ModelServerSettings) -> ModelServerApp | None:
    """Load the model and build the KServe server; None (after logging why) if the model cannot load."""
    import kserve

    from recsys_model_servers.model import RecsysModel

    quiet_library_logs()
    started = time.perf_counter()
    loader = build_loader(settings)
    try:
        loaded = loader.load()
    except ModelLoadError as exc:
        log.error("cannot serve %s: %s", settings.model_uri, exc)
        return None
    features = build_features(settings)
    signals = build_signals(settings)
    tracer = build_tracer(settings)
    service = RecommendationService(
        ServiceConfig(
            name=settings.name,
            tenant_id=settings.tenant_id,
            candidate_pool=settings.candidate_pool,
            max_n=settings.max_n,
            rerank=settings.rerank,
        ),
        loader,
        features,
        RequestTracer(None),  # warm-up requests are not traced
    )
    features.read(WARMUP_USER)  # builds the Feast store (registry, connection) before traffic
    service.predict([PopularRequest(popular=True, n=10)])
    service = RecommendationService(service.config, loader, features, tracer, signals=signals)
    model = RecsysModel(settings.name, service, predict_threads=settings.predict_threads)
    model.load()
    from kserve.model_server import app as rest_app

    from recsys_model_servers.routes import install_routes

    install_routes(rest_app, model, lambda: loader.current.version)
    token = settings.auth_token.get_secret_value() if settings.auth_token else None
    secure_kserve_app(settings.host, token)
    server = kserve.ModelServer(
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        enable_grpc=settings.enable_grpc,
        workers=1,
        enable_docs_url=False,
        enable_latency_logging=False,
    )
    log.info(
        "serving %s as %s (version %s) on %s:%d (%s), ready in %.1f s",
        loaded.source,
        settings.name,
        loaded.version,
        settings.host,
        settings.http_port,
        "token required" if token else "no token",
        time.perf_counter() - started,
    )
    return ModelServerApp(settings, loader, features, tracer, service, server, model)


def run(app: ModelServerApp) -> int:
    """Serve until SIGTERM/SIGINT, polling the alias meanwhile; release everything after."""
    app.loader.start()
    try:
        app.server.start([app.model])
    finally:
        app.loader.stop()
        app.features.close()
        app.tracer.shutdown()
    return 0
