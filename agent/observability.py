"""The agent's observability: log context on every workflow/activity line, Prometheus metrics, SDK telemetry.

- Logs: an activity interceptor puts the run id / location of the activity's workflow in a context variable,
  and a logging filter adds it (or, for workflow records, what the SDK attaches as `temporal_workflow`) to
  every record, so every line of a run's or a location's work says which one it is, in text or JSON.
- Metrics: the same interceptor counts what the activities report (launches, final statuses, launch latency,
  restarts) into activities/metrics.py; one /metrics endpoint serves those together with the Temporal SDK's
  runtime metrics, which the SDK exposes on a private loopback port and we re-export.
"""

from __future__ import annotations

import contextvars
import logging
import socket
import time
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio import activity, workflow
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities import metrics
from contracts.agent import Ack, LaunchRunInput, RunStarted, WatchRunInput, WorkerLaunch
from contracts.handles import RunWorkerHandle
from contracts.locations import LocationReport
from contracts.runs import RunReport
from contracts.statuses import LocationStatus
from contracts.temporal import Activities

log = logging.getLogger(__name__)

LOG_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar("log_context", default=None)


def context_of_workflow(workflow_id: str) -> dict[str, Any]:
    """Our run id or location name, read from the workflow id (`run:<id>`, `location:<name>`)."""
    kind, _, name = workflow_id.partition(":")
    context: dict[str, Any] = {"workflow_id": workflow_id}
    if kind == "run" and name:
        context["run_id"] = name
    elif kind == "location" and name:
        context["location"] = name
    return context


def _location_in(args: Any) -> str | None:
    """The location an activity argument names (a run's launch input carries its location's spec)."""
    for arg in args:
        if isinstance(arg, LaunchRunInput):
            return arg.location.name
    return None


class LogContextFilter(logging.Filter):
    """Adds `context` (run id / location / workflow id / activity) to records emitted inside workflows/activities."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record; only enriches it."""
        context: dict[str, Any] = dict(getattr(record, "context", None) or {})
        details = getattr(record, "temporal_workflow", None)
        if isinstance(details, Mapping) and details.get("workflow_id"):
            context.update(context_of_workflow(str(details["workflow_id"])))
        # The SDK's own activity lines (e.g. "Completing activity as failed") carry the activity's info.
        details = getattr(record, "temporal_activity", None)
        if isinstance(details, Mapping) and details.get("workflow_id"):
            context.update(context_of_workflow(str(details["workflow_id"])))
            context.update(activity=details.get("activity_type"), attempt=details.get("attempt"))
        current = LOG_CONTEXT.get()
        if current:
            context.update(current)
        record.context = context
        return True


def quiet_sdk_loggers() -> None:
    """The SDK appends its info dict to every workflow/activity message; our context fields replace it."""
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


class ObservabilityInterceptor(Interceptor):
    """Worker interceptor: log context and metrics for every activity (local ones included)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap every activity execution."""
        return _ActivityObserver(next)


class _ActivityObserver(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        context = context_of_workflow(info.workflow_id or "")
        location = _location_in(input.args)
        if location:
            context["location"] = location
        context.update(activity=info.activity_type, attempt=info.attempt)
        token = LOG_CONTEXT.set(context)
        try:
            result = await super().execute_activity(input)
            try:
                record_outcome(info.activity_type, input.args, result)
            except Exception:  # metrics must never fail an activity
                log.exception("could not record metrics of %s", info.activity_type)
            return result
        finally:
            LOG_CONTEXT.reset(token)


def record_outcome(activity_type: str, args: Any, result: Any) -> None:
    """Log and count what a successful activity tells: launches, latency, final statuses, restarts."""
    arg = args[0] if args else None
    if isinstance(result, WorkerLaunch):
        _launched(arg, result.handle)
        if result.running_after_s is not None:
            metrics.LAUNCH_LATENCY.labels(result.handle.launcher).observe(result.running_after_s)
    elif activity_type == Activities.LAUNCH_RUN_WORKER and isinstance(result, RunWorkerHandle):
        _launched(arg, result)
    elif activity_type == Activities.AWAIT_RUN_STARTED and isinstance(result, RunStarted) and result.running:
        if isinstance(arg, WatchRunInput):
            latency = max(0.0, time.time() - arg.handle.launched_at.timestamp())
            metrics.LAUNCH_LATENCY.labels(arg.handle.launcher).observe(latency)
    elif activity_type == Activities.REPORT_RUN and isinstance(arg, RunReport) and _applied(result):
        log.info("run is %s (attempt %d)%s", arg.status.value, arg.attempt, f": {arg.reason}" if arg.reason else "")
        if arg.status.is_terminal:
            metrics.RUNS_FINISHED.labels(arg.status.value).inc()
    elif activity_type == Activities.REPORT_LOCATION and isinstance(arg, LocationReport) and _applied(result):
        log.info("location is %s (generation %d): %s", arg.status.value, arg.generation, arg.message)
        if arg.status is LocationStatus.UNHEALTHY:
            metrics.CODE_SERVER_RESTARTS.labels(arg.name).inc()
        elif arg.status is LocationStatus.ERROR:
            metrics.CODE_SERVER_START_FAILURES.labels(arg.name).inc()


def _launched(arg: Any, handle: RunWorkerHandle) -> None:
    log.info("run worker %s launched (%s launcher)", handle.name, handle.launcher)
    metrics.RUNS_LAUNCHED.labels(handle.launcher).inc()
    if isinstance(arg, LaunchRunInput) and arg.attempt > 1 and activity.info().attempt == 1:
        metrics.RUN_RETRIES.inc()


def _applied(result: Any) -> bool:
    return isinstance(result, Ack) and result.applied


# ---- metrics endpoint -----------------------------------------------------------------------------


class SdkMetrics(Collector):
    """Re-exports the Temporal SDK runtime's Prometheus metrics, scraped from its private loopback endpoint."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[Any]:
        """The SDK's metric families; none if its endpoint does not answer (ours are still served)."""
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                text = response.read().decode()
        except OSError as err:
            log.warning("Temporal SDK metrics unavailable at %s: %s", self.url, err)
            return
        yield from text_string_to_metric_families(text)


def free_loopback_port() -> int:
    """A loopback TCP port that was free a moment ago (for the SDK's private metrics endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_address(address: str) -> tuple[str, int]:
    """'host:port' → (host, port)."""
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


def telemetry_runtime(sdk_metrics_port: int | None) -> Runtime:
    """The agent's Temporal runtime: SDK core logs through our handlers (so JSON stays JSON), and, given a
    port, its Prometheus metrics on 127.0.0.1:`sdk_metrics_port` (re-exported by serve_metrics)."""
    prometheus = None
    if sdk_metrics_port is not None:
        prometheus = PrometheusConfig(
            bind_address=f"127.0.0.1:{sdk_metrics_port}", counters_total_suffix=True, durations_as_seconds=True
        )
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=prometheus))


def serve_metrics(address: str, sdk_metrics_port: int | None) -> tuple[str, int]:
    """Serve ours (+ the SDK's) at http://address/metrics in a background thread; returns the bound host/port."""
    if sdk_metrics_port is not None:
        metrics.REGISTRY.register(SdkMetrics(f"http://127.0.0.1:{sdk_metrics_port}/metrics"))
    host, port = split_address(address)
    server, _thread = start_http_server(port, addr=host, registry=metrics.REGISTRY)
    bound_host, bound_port = server.server_address[:2]
    return str(bound_host), int(bound_port)
