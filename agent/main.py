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

from activities.automation_activities import AutomationActivities
from activities.code_server_client import CodeServerClient
from activities.config_check_activities import ConfigCheckActivities
from activities.control_plane_client import ControlPlaneClient
from activities.launchers.orphans import OrphanSweeper, Sweepable
from activities.launchers.owners import TemporalOwners
from activities.location_activities import LocationActivities
from activities.report_activities import ReportActivities
from activities.run_activities import RunActivities
from agent import observability
from agent.heartbeat import AgentHeartbeats, RecentErrors
from agent.launchers import build_launchers
from agent.lease import SupervisionLease
from agent.settings import AgentSettings
from agent.versioning import VersionRollout, deployment_config
from runtime.converter import data_converter
from runtime.log_format import configure_logging
from runtime.settings import settings_error
from runtime.temporal_connection import TemporalConfigError, exit_refusing
from workflows.catalog import AGENT_WORKFLOWS

SANDBOX_PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "contracts",
    "workflows.options",
    "workflows.errors",
    "workflows.search",
    "workflows.automation_ticks",
)
log = logging.getLogger("longshoreman.agent")


class Agent:
    """Owns the Temporal worker and the clients its activities use."""

    def __init__(self, settings: AgentSettings, client: Client, errors: RecentErrors | None = None) -> None:
        self.settings = settings
        self.client = client
        self.errors = errors or RecentErrors()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.control_plane = ControlPlaneClient(settings.control_plane_url, settings.agent_token.get_secret_value())
        launchers = self.launchers = build_launchers(settings, self.control_plane)
        logs = settings.compute_logs.destination()
        self.locations = LocationActivities(launchers, forward_logs=logs.forwarded)
        self.runs = RunActivities(launchers, self.control_plane, settings.poll_interval_s, compute_logs=logs)
        self.lease = SupervisionLease(client, settings.task_queue, self.runs.watches)
        reports = ReportActivities(self.control_plane)
        self.code_servers = CodeServerClient()
        self.automations = AutomationActivities(self.control_plane, self.code_servers)
        config_checks = ConfigCheckActivities(self.code_servers)
        versioned = deployment_config(*settings.worker_deployment()) if settings.versioning == "auto" else None
        self.worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=list(AGENT_WORKFLOWS),
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
                self.automations.evaluate_schedule_tick,
                self.automations.run_schedule_tick,
                self.automations.evaluate_sensor_tick,
                self.automations.launch_tick_runs,
                self.automations.report_tick,
                self.automations.wait_for_runs,
                config_checks.validate_run_config,
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_s),
            # A killed agent's sticky queue would hold its workflows' next tasks this long before any replica may
            # take them (the default is 10 s): short, so a replica resumes a run within seconds.
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_timeout_s),
            interceptors=[observability.ObservabilityInterceptor()],
            deployment_config=versioned,
            # Deterministic, side-effect-free modules are shared with the sandbox instead of re-imported into each
            # workflow: a workflow task then costs a few milliseconds less.
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
            ),
        )

    def _rollout(self) -> VersionRollout | None:
        if self.settings.versioning != "auto":
            return None
        deployment, build_id = self.settings.worker_deployment()
        return VersionRollout(self.client, self.settings.task_queue, deployment, build_id, self.client.identity)

    def _orphan_sweepers(self) -> list[OrphanSweeper]:
        """One sweeper per launcher that can list what it runs (the docker launcher sweeps on its own)."""

        async def client() -> Client:
            return self.client

        owners = TemporalOwners(client)
        return [
            OrphanSweeper(
                launcher,
                owners,
                interval_s=self.settings.orphan_sweep_interval_s,
                grace_s=self.settings.orphan_grace_s,
            )
            for launcher in self.launchers.all()
            if isinstance(launcher, Sweepable)
        ]

    @classmethod
    async def connect(cls, settings: AgentSettings, errors: RecentErrors | None = None) -> Agent:
        """Connect to Temporal (payloads encrypted with the configured keys) and build the worker.

        With `metrics_address` set, /metrics serves our metrics and the Temporal SDK runtime's.
        """
        keys = settings.keyring()
        sdk_port = observability.free_loopback_port() if settings.metrics_address else None
        runtime = observability.telemetry_runtime(sdk_port)
        if settings.metrics_address:
            host, port = observability.serve_metrics(settings.metrics_address, sdk_port)
            log.info("metrics on http://%s:%d/metrics", host, port)
        client = await settings.temporal.connect(data_converter(keys), runtime=runtime)
        log.info("connected to Temporal at %s", settings.temporal.describe())
        return cls(settings, client, errors)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll the task queue until `stop` is set, then shut down gracefully (work keeps running)."""
        heartbeats = AgentHeartbeats(self.settings, self.control_plane, self.launchers, self.errors)
        rollout = self._rollout()
        async with self.worker, self.lease.held():
            log.info("agent %s polling task queue %s", self.settings.agent_name, self.settings.task_queue)
            background = [asyncio.create_task(sweeper.run_forever()) for sweeper in self._orphan_sweepers()]
            background.append(asyncio.create_task(heartbeats.run_forever()))
            if rollout is not None:
                background.append(asyncio.create_task(rollout.promote()))
            await stop.wait()
            if rollout is not None and self.settings.drain_timeout_s > 0:
                await rollout.drain(self.settings.drain_timeout_s)
            log.info("agent shutting down; run workers and code servers keep running")
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await heartbeats.beat(stopping=True)
        await self.locations.aclose()
        await self.automations.aclose()
        await self.control_plane.aclose()
        await self.launchers.aclose()


async def serve(settings: AgentSettings, errors: RecentErrors | None = None) -> None:
    """Run an agent until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    agent = await Agent.connect(settings, errors)
    await agent.run(stop)


def main() -> None:
    """Entry point of `python -m agent` and `longshoreman agent`."""
    try:
        settings = AgentSettings()
        settings.keyring()
        settings.temporal.resolve()  # certificate files are checked before anything starts
    except (ValueError, OSError) as err:  # KeyConfigError too: an agent that cannot encrypt must not start
        print(f"longshoreman agent: invalid settings: {settings_error(err)}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format, [observability.LogContextFilter()])
    if settings.log_level.lower() != "debug":
        # One line per health probe and report would drown the lines that matter.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    observability.quiet_sdk_loggers()
    errors = RecentErrors()  # the latest warnings and errors ride on the agent's heartbeat
    logging.getLogger().addHandler(errors)
    try:
        asyncio.run(serve(settings, errors))
    except TemporalConfigError as err:  # wrong address, CA, certificate or key: one line, no traceback
        exit_refusing(f"longshoreman agent: {err}")
    except RuntimeError as err:
        print(f"longshoreman agent: {err}", file=sys.stderr)
        sys.exit(1)
