"""Prometheus metrics of one service (``GET /metrics``), in a registry of its own (several apps in one process,
as in tests, do not share counters)."""
from __future__ import annotations

from rankwise.models import require

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Metrics:
    """Requests by route and status, request latency, queue depth, batch sizes and pairs scored."""

    def __init__(self):
        prometheus = require("prometheus_client", "serve", "the service's /metrics")
        self._prometheus = prometheus
        self.registry = registry = prometheus.CollectorRegistry()
        self.requests = prometheus.Counter(
            "rankwise_requests", "HTTP requests answered, by route and status code", ["route", "status"],
            registry=registry)
        self.latency = prometheus.Histogram(
            "rankwise_request_seconds", "Time from receiving a request to answering it, by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = prometheus.Gauge(
            "rankwise_requests_in_flight", "Requests admitted for the model and not yet answered", registry=registry)
        self.queue_depth = prometheus.Gauge(
            "rankwise_queue_depth", "Requests waiting for the model (not yet in a batch)", registry=registry)
        self.batch_pairs = prometheus.Histogram(
            "rankwise_batch_pairs", "(query, document) pairs per model batch", buckets=SIZE_BUCKETS,
            registry=registry)
        self.batch_requests = prometheus.Histogram(
            "rankwise_batch_requests", "Requests coalesced into one model batch", buckets=SIZE_BUCKETS[:9],
            registry=registry)
        self.batch_seconds = prometheus.Histogram(
            "rankwise_batch_seconds", "Time the model took per batch", buckets=LATENCY_BUCKETS, registry=registry)
        self.pairs = prometheus.Counter("rankwise_pairs_scored", "(query, document) pairs scored", registry=registry)
        self.rejected = prometheus.Counter(
            "rankwise_rejected", "Requests refused without scoring, by reason", ["reason"], registry=registry)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return self._prometheus.generate_latest(self.registry), self._prometheus.CONTENT_TYPE_LATEST


__all__ = ["Metrics"]
