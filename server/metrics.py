"""Prometheus metrics, one registry per app (so several apps in one process stay apart).

Route labels are route templates (``/v1/index/items/{item_id}``), never raw paths, and no header or
body value is ever a label, so keys cannot leak into metrics.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "vcl_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "vcl_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_clips = Histogram(
            "vcl_batch_size_clips", "clips per ONNX Runtime call", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "vcl_batch_size_requests",
            "requests merged into one ONNX Runtime call",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "vcl_inference_duration_seconds", "ONNX Runtime call time", buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("vcl_queue_depth", "requests waiting for a batch", registry=r)
        self.rejected = Counter(
            "vcl_rejected_total", "requests refused by the batcher", ["reason"], registry=r
        )
        self.index_version = Gauge(
            "vcl_index_version", "number of the index version being served", registry=r
        )
        self.index_items = Gauge("vcl_index_items", "clips in the served index version", registry=r)
        self.provider = Gauge(
            "vcl_model_provider_info",
            "ONNX Runtime execution providers in use (1 = in use)",
            ["provider"],
            registry=r,
        )

    def on_batch(self, clips: int, requests: int, seconds: float) -> None:
        self.batch_clips.observe(clips)
        self.batch_requests.observe(requests)
        self.inference.observe(seconds)

    def set_index(self, version: str, count: int) -> None:
        self.index_version.set(int(version.lstrip("v")) if version.lstrip("v").isdigit() else 0)
        self.index_items.set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its matched route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, scope.get("method", ""), str(status["code"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
