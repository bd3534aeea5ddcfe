"""OpenTelemetry tracer provider: OTLP/HTTP exporter when an endpoint is configured."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from recsys_platform import __version__


def build_tracer_provider(
    service_name: str,
    otlp_endpoint: str | None = None,
    extra_processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    """A tracer provider for one service; spans go to OTLP when ``otlp_endpoint`` is set.

    The provider is returned, not installed globally, so tests and several apps in
    one process do not fight over the global provider.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.version": __version__})
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    return provider
