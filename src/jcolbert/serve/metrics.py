"""Prometheus metrics for one app: requests and latency by route and status, queue depths, documents.

Everything lives in the app's own `CollectorRegistry` (no process-global state, so two apps in one process,
as in the tests, count separately). Request counts and latencies are recorded by the request middleware;
queue depths and documents per index are read when /metrics is scraped, from the live registry of indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _LiveGauges(Collector):
    """Gauges computed at scrape time: write queue depth and documents per opened index, encode queue depth."""

    def __init__(self, snapshot: Callable[[], dict[str, Iterable[tuple[str, float]]]]):
        self._snapshot = snapshot

    def describe(self):
        return self._families({})

    def collect(self):
        return self._families(self._snapshot())

    @staticmethod
    def _families(values: dict[str, Iterable[tuple[str, float]]]):
        docs = GaugeMetricFamily("jcolbert_index_documents", "Live documents per served index", labels=["index"])
        writes = GaugeMetricFamily("jcolbert_write_queue_depth", "Write requests waiting per index", labels=["index"])
        encode = GaugeMetricFamily("jcolbert_encode_queue_depth", "Queries waiting for the encoder, per model",
                                   labels=["model"])
        inflight = GaugeMetricFamily("jcolbert_requests_in_flight", "Requests being answered now")
        for name, value in values.get("documents", ()):
            docs.add_metric([name], value)
        for name, value in values.get("write_queue", ()):
            writes.add_metric([name], value)
        for name, value in values.get("encode_queue", ()):
            encode.add_metric([name], value)
        for _, value in values.get("inflight", ()):
            inflight.add_metric([], value)
        return [docs, writes, encode, inflight]


class Metrics:
    """The app's metrics. `observe` is called once per request; `render` answers /metrics."""

    def __init__(self, snapshot: Callable[[], dict[str, Iterable[tuple[str, float]]]]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("jcolbert_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("jcolbert_request_seconds", "Time to answer an HTTP request",
                                 ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("jcolbert_encode_batch_queries", "Queries per query-encoder call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.search_batch = Histogram("jcolbert_search_batch_queries",
                                      "Queries per search call when micro-batching is on (requests searched together)",
                                      buckets=(1, 2, 3, 4, 8, 16), registry=self.registry)
        self.registry.register(_LiveGauges(snapshot))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "Metrics"]
