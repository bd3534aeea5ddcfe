"""Prometheus metrics of the stream processor."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "recsys_stream_events_total",
            "Events consumed, by tenant and outcome (applied, duplicate, dead_letter).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.lag = Gauge(
            "recsys_stream_consumer_lag",
            "Records in the log not yet processed by this consumer group, per topic.",
            ["topic"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "recsys_stream_batch_seconds",
            "Time to process one polled batch (features, offline store, dead letters).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=registry,
        )
        self.freshness = Histogram(
            "recsys_stream_event_to_feature_seconds",
            "From the gateway receiving an event to its features being written.",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5, 30),
            registry=registry,
        )
        self.retries = Counter(
            "recsys_stream_write_retries_total",
            "Failed writes of a batch, retried without committing offsets.",
            ["target"],
            registry=registry,
        )
        self.tenant_paused = Gauge(
            "recsys_stream_tenant_paused",
            "1 while a tenant's processing is held after a failed write (the others go on).",
            ["tenant"],
            registry=registry,
        )
        self.tenant_failures = Counter(
            "recsys_stream_tenant_write_failures_total",
            "Failed writes per tenant and target (features, offline, item_stats, dead_letter).",
            ["tenant", "target"],
            registry=registry,
        )
