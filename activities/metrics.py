"""The agent's own Prometheus metrics (the Temporal SDK's come on top, see worker/observability.py).

Defined here, next to the activities that observe what they count; the agent exposes REGISTRY on its
/metrics endpoint. Labels are bounded sets (statuses, launcher kinds, location names), never run ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

RUNS_LAUNCHED = Counter(
    "longshoreman_runs_launched",
    "Run workers launched (one per attempt; an activity retry that adopts the worker counts again).",
    ["launcher"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "longshoreman_runs_finished",
    "Runs that reached a final status, as delivered to the control plane.",
    ["status"],
    registry=REGISTRY,
)
RUN_RETRIES = Counter(
    "longshoreman_run_retries",
    "New attempts of runs after an infrastructure failure.",
    registry=REGISTRY,
)
LAUNCH_LATENCY = Histogram(
    "longshoreman_run_launch_latency_seconds",
    "Time from launching a run worker to its job running.",
    ["launcher"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
HEALTH_CHECK_FAILURES = Counter(
    "longshoreman_health_check_failures",
    "Failed health probes of running code servers.",
    ["location"],
    registry=REGISTRY,
)
CODE_SERVER_RESTARTS = Counter(
    "longshoreman_code_server_restarts",
    "Code servers restarted after they failed while serving (reported UNHEALTHY).",
    ["location"],
    registry=REGISTRY,
)
CODE_SERVER_START_FAILURES = Counter(
    "longshoreman_code_server_start_failures",
    "Code-server starts that failed (reported ERROR).",
    ["location"],
    registry=REGISTRY,
)
