"""Prometheus metrics of the control plane: HTTP requests by route and status, ingest counts, agent reports.

Served at GET /metrics without authentication (like /api/health), as Prometheus scrapers expect: the labels
are route templates, methods, statuses and counts, never ids, names or payloads.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "longshoreman_http_requests",
    "HTTP requests answered by the control plane.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "longshoreman_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
INGESTED = Counter(
    "longshoreman_ingested_items",
    "Run events and log lines posted by run workers, new or duplicate (already stored).",
    ["kind", "result"],
    registry=REGISTRY,
)
AGENT_REPORTS = Counter(
    "longshoreman_agent_reports",
    "Status reports from agents, by kind (location/run), reported status and whether they were applied.",
    ["kind", "status", "applied"],
    registry=REGISTRY,
)

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def count_ingest(kind: str, accepted: int, duplicates: int) -> None:
    """Count one ingest batch (kind: 'event' or 'log')."""
    INGESTED.labels(kind, "accepted").inc(accepted)
    INGESTED.labels(kind, "duplicate").inc(duplicates)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request under its route template (e.g. /api/runs/{run_id})."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its status once the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
