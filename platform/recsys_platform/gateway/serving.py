"""What the recommendation routes need, built in the gateway lifespan (``app.state.recommend``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.checkpoints import MlflowCheckpoints
from recsys_platform.bandit.stage import BanditMetrics, BanditStage
from recsys_platform.events.log import EventLog
from recsys_platform.gateway.fallback import FallbackCache
from recsys_platform.gateway.impressions import ImpressionLogger, ImpressionMetrics
from recsys_platform.gateway.model_client import ModelClient
from recsys_platform.gateway.routing import RoutingTable
from recsys_platform.guardrails.stage import GuardrailStage
from recsys_platform.settings import GatewaySettings


@dataclass
class RecommendationServices:
    routing: RoutingTable
    models: ModelClient
    fallback: FallbackCache
    impressions: ImpressionLogger
    metrics: ImpressionMetrics
    tracer: trace.Tracer
    bandit: BanditStage | None = None
    guardrails: GuardrailStage | None = None

    async def close(self) -> None:
        if self.bandit is not None:
            self.bandit.close()
        if self.guardrails is not None:
            self.guardrails.close()
        await self.impressions.drain()
        await self.models.close()


def build_recommendation_services(
    settings: GatewaySettings,
    sessions: sessionmaker[Session],
    event_log: EventLog,
    registry: CollectorRegistry,
    tracer_provider: TracerProvider,
) -> RecommendationServices:
    """Wire routing, the model-server client pool, the fallback cache and the impression log.

    The gateway's own spans (model call, impression produce) go to the app's tracer provider,
    which the app shuts down (and flushes) itself.
    """
    tracer = tracer_provider.get_tracer("recsys.gateway")
    routing = RoutingTable(
        sessions, settings.routing_cache_seconds, settings.model_token_secret.get_secret_value()
    )
    models = ModelClient(settings.model_timeout_seconds, settings.model_pool_size, tracer)
    metrics = ImpressionMetrics(registry)
    bandit = guardrails = None
    if settings.bandit_refresh_seconds > 0:
        guardrails = GuardrailStage(sessions, registry, refresh_seconds=settings.bandit_refresh_seconds)
        guardrails.start()
        bandit = BanditStage(
            sessions,
            MlflowCheckpoints(settings.mlflow.tracking_uri, settings.mlflow.registry_name_prefix),
            BanditMetrics(registry),
            refresh_seconds=settings.bandit_refresh_seconds,
        )
        bandit.start()
    return RecommendationServices(
        routing=routing,
        models=models,
        fallback=FallbackCache(
            sessions, models, routing.routes, settings.fallback_size, settings.fallback_refresh_seconds
        ),
        impressions=ImpressionLogger(
            event_log,
            settings.event_log.kafka.topic_prefix,
            metrics,
            tracer,
            queue_size=settings.impression_queue_size,
        ),
        metrics=metrics,
        tracer=tracer,
        bandit=bandit,
        guardrails=guardrails,
    )


async def recommendation_services(request: Request) -> RecommendationServices:
    """The app's recommendation services (async: no thread-pool hop for a dependency)."""
    services: RecommendationServices = request.app.state.recommend
    return services
