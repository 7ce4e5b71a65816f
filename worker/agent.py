"""The agent process: a Temporal worker that runs both workflows and all activities."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.control_plane_client import ControlPlaneClient
from activities.location_activities import LocationActivities
from activities.report_activities import ReportActivities
from activities.run_activities import RunActivities
from contracts.log_format import configure_logging
from contracts.temporal import data_converter
from worker import observability
from worker.launchers import build_launchers
from worker.settings import AgentSettings
from workflows.location_workflow import CodeLocationWorkflow
from workflows.run_workflow import RunWorkflow

SANDBOX_PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "contracts",
    "workflows.options",
    "workflows.errors",
    "workflows.search",
)
log = logging.getLogger("longshoreman.agent")


class Agent:
    """Owns the Temporal worker and the clients its activities use."""

    def __init__(self, settings: AgentSettings, client: Client) -> None:
        self.settings = settings
        self.client = client
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.control_plane = ControlPlaneClient(settings.control_plane_url, settings.agent_token.get_secret_value())
        launchers = self.launchers = build_launchers(settings, self.control_plane)
        self.locations = LocationActivities(launchers)
        self.runs = RunActivities(launchers, self.control_plane, settings.poll_interval_s)
        reports = ReportActivities(self.control_plane)
        self.worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[CodeLocationWorkflow, RunWorkflow],
            activities=[
                self.locations.launch_code_server,
                self.locations.await_healthy,
                self.locations.fetch_definitions,
                self.locations.supervise_code_server,
                self.locations.stop_code_server,
                self.runs.start_run_worker,
                self.runs.launch_run_worker,
                self.runs.await_run_started,
                self.runs.supervise_run_worker,
                self.runs.stop_run_worker,
                reports.report_location,
                reports.report_run,
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_s),
            # A killed agent's sticky queue would hold its workflows' next tasks this long before any replica may
            # take them (the default is 10 s): short, so a replica resumes a run within seconds.
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_timeout_s),
            interceptors=[observability.ObservabilityInterceptor()],
            # Deterministic, side-effect-free modules are shared with the sandbox instead of re-imported into each
            # workflow: a workflow task then costs a few milliseconds less.
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
            ),
        )

    @classmethod
    async def connect(cls, settings: AgentSettings) -> Agent:
        """Connect to Temporal (payloads encrypted with the configured keys) and build the worker.

        With `metrics_address` set, /metrics serves our metrics and the Temporal SDK runtime's.
        """
        keys = settings.keyring()
        sdk_port = observability.free_loopback_port() if settings.metrics_address else None
        runtime = observability.telemetry_runtime(sdk_port)
        if settings.metrics_address:
            host, port = observability.serve_metrics(settings.metrics_address, sdk_port)
            log.info("metrics on http://%s:%d/metrics", host, port)
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(keys),
            runtime=runtime,
        )
        return cls(settings, client)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll the task queue until `stop` is set, then shut down gracefully (work keeps running)."""
        async with self.worker:
            log.info("agent %s polling task queue %s", self.settings.agent_name, self.settings.task_queue)
            await stop.wait()
            log.info("agent shutting down; run workers and code servers keep running")
        await self.locations.aclose()
        await self.control_plane.aclose()
        await self.launchers.aclose()


async def serve(settings: AgentSettings) -> None:
    """Run an agent until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    agent = await Agent.connect(settings)
    await agent.run(stop)


def main() -> None:
    """Entry point of `python -m worker` and `longshoreman agent`."""
    try:
        settings = AgentSettings()
        settings.keyring()
    except (ValueError, OSError) as err:  # KeyConfigError too: an agent that cannot encrypt must not start
        print(f"longshoreman agent: invalid settings: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format, [observability.LogContextFilter()])
    if settings.log_level.lower() != "debug":
        # One line per health probe and report would drown the lines that matter.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    observability.quiet_sdk_loggers()
    try:
        asyncio.run(serve(settings))
    except RuntimeError as err:
        print(f"longshoreman agent: {err}", file=sys.stderr)
        sys.exit(1)
