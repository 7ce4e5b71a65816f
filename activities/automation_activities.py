"""Activities of the automation workflows: evaluate a tick in the code server, launch its runs, report it.

User code (a schedule or sensor function) runs in the code server, never here: this asks the location's
serving code server over HTTP (activities/code_server_client.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from activities.code_server_client import CodeServerClient, NotServing
from activities.control_plane_client import ControlPlaneClient
from activities.polling import heartbeating
from contracts.agent import Ack
from contracts.automation_flows import (
    LaunchTickRuns,
    ReportTickInput,
    ScheduleTickAll,
    ScheduleTickDone,
    ScheduleTickRequest,
    SensorTickRequest,
    WaitRunsInput,
    schedule_run_key,
    sensor_run_key,
    tick_report,
)
from contracts.automations import (
    AutomationKind,
    AutomationRun,
    AutomationRunsRequest,
    AutomationRunsResult,
    CatchupPolicy,
    TickEvaluation,
)
from contracts.code_server_protocol import MIN_TICK_INTERVAL_S, schedule_tick_path, sensor_tick_path
from contracts.temporal import Activities

# Catch-up policy "none": a tick evaluated later than this after its time counts as missed.
LATE_AFTER_S = 5.0
WAIT_STEP_S = 25.0


class AutomationActivities:
    """Side effects of ScheduleTickWorkflow, SensorWorkflow and BackfillWorkflow."""

    def __init__(self, control_plane: ControlPlaneClient, code_servers: CodeServerClient | None = None) -> None:
        self._control_plane = control_plane
        self._code_servers = code_servers or CodeServerClient()

    async def aclose(self) -> None:
        """Close the code-server client."""
        await self._code_servers.aclose()

    @activity.defn(name=Activities.EVALUATE_SCHEDULE_TICK)
    async def evaluate_schedule_tick(self, request: ScheduleTickRequest) -> TickEvaluation:
        """Decide one tick: skipped by the catch-up policy or a code server that is not LOADED, else the schedule's
        own answer (one run, keyed by the tick's time)."""
        missed = await _missed(activity.client(), request)
        if missed is not None:
            return TickEvaluation(skip_reason=missed)
        path = schedule_tick_path(request.schedule)
        answer = await self._ask(request.location, path, {"scheduled_time": request.scheduled_time.isoformat()})
        key = schedule_run_key(request.location, request.schedule, request.scheduled_time)
        return _evaluation(answer, lambda _run: key)

    @activity.defn(name=Activities.RUN_SCHEDULE_TICK)
    async def run_schedule_tick(self, tick: ScheduleTickAll) -> ScheduleTickDone:
        """Evaluate a tick, launch its run, then record it, in one activity (no workflow task between the steps:
        the on-time path of a schedule). One try of each control-plane call: if one fails, the evaluation comes
        back without a report and the workflow launches (idempotent by key) and records with long retries."""
        request = tick.request
        evaluation = await self.evaluate_schedule_tick(request)
        launched = None
        try:
            async with heartbeating():
                if evaluation.error is None and evaluation.runs:
                    runs = AutomationRunsRequest(
                        kind=AutomationKind.SCHEDULE, tick_id=tick.tick_id, runs=evaluation.runs
                    )
                    launched = await self._control_plane.launch_automation_runs(
                        request.location, request.schedule, runs
                    )
                report = tick_report(
                    tick.tick_id, AutomationKind.SCHEDULE, request.scheduled_time, evaluation, launched
                )
                await self._control_plane.report_tick(request.location, request.schedule, report)
        except Exception as err:  # any failure: the workflow's durable path takes over
            activity.logger.warning("tick %s: %s; the workflow launches and records it", tick.tick_id, err)
            return ScheduleTickDone(evaluation=evaluation)
        return ScheduleTickDone(evaluation=evaluation, report=report)

    @activity.defn(name=Activities.EVALUATE_SENSOR_TICK)
    async def evaluate_sensor_tick(self, request: SensorTickRequest) -> TickEvaluation:
        """One evaluation of a sensor from its last cursor: its run requests (keyed by their run keys) and cursor."""
        last = request.last_tick_time.isoformat() if request.last_tick_time else None
        answer = await self._ask(
            request.location, sensor_tick_path(request.sensor), {"cursor": request.cursor, "last_tick_time": last}
        )
        evaluation = _evaluation(answer, lambda run: sensor_run_key(request.location, request.sensor, run["run_key"]))
        # A failed or unasked evaluation keeps the cursor; a sensor may also set it back to None on purpose.
        evaluation.cursor = request.cursor if evaluation.error else answer.get("cursor", request.cursor)
        return evaluation

    @activity.defn(name=Activities.LAUNCH_TICK_RUNS)
    async def launch_tick_runs(self, request: LaunchTickRuns) -> AutomationRunsResult:
        """Launch a tick's runs through the control plane (idempotent: each run has its key)."""
        return await self._control_plane.launch_automation_runs(request.location, request.automation, request.request)

    @activity.defn(name=Activities.REPORT_TICK)
    async def report_tick(self, request: ReportTickInput) -> Ack:
        """Tell the control plane how a tick went (idempotent by tick id)."""
        return await self._control_plane.report_tick(request.location, request.automation, request.report)

    @activity.defn(name=Activities.WAIT_FOR_RUNS)
    async def wait_for_runs(self, request: WaitRunsInput) -> Ack:
        """Return once every run is final (long polls of the control plane, heartbeating between them)."""
        for run_id in request.run_ids:
            while not await self._control_plane.wait_run(run_id, WAIT_STEP_S):
                activity.heartbeat()
        return Ack()

    async def _ask(self, location: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the location's serving code server: its JSON answer, or {"skip_reason"/"error": why not}."""
        try:
            return await self._code_servers.ask(location, path, body)
        except NotServing as err:
            if err.status is None:
                return {"skip_reason": err.message}
            return {"skip_reason": f"{err.message}: ticks resume once it is LOADED again"}


def _evaluation(answer: dict[str, Any], key_of: Any) -> TickEvaluation:
    """The code server's answer as a TickEvaluation, each run with its idempotency key."""
    if answer.get("error"):
        return TickEvaluation(error=str(answer["error"]))
    runs = [
        AutomationRun(config=run.get("config") or {}, tags=run.get("tags") or {}, idempotency_key=key_of(run))
        for run in answer.get("run_requests") or []
    ]
    return TickEvaluation(runs=runs, skip_reason=answer.get("skip_reason"))


async def _missed(client: Client, request: ScheduleTickRequest) -> str | None:
    """Why the catch-up policy skips this tick, or None to evaluate it."""
    if request.schedule_id is None or request.catchup is CatchupPolicy.ALL:
        return None
    late_s = (datetime.now(UTC) - request.scheduled_time).total_seconds()
    if late_s < MIN_TICK_INTERVAL_S:
        return None  # on time: no later tick can be due yet, and asking Temporal would only add latency
    try:
        description = await client.get_schedule_handle(request.schedule_id).describe()
    except RPCError:
        return None  # cannot tell: evaluate rather than lose the tick
    # Whole seconds: the tick's own time (a search attribute) is, while an action's may carry a fraction.
    newer = [
        a.scheduled_at
        for a in description.info.recent_actions
        if a.scheduled_at.replace(microsecond=0) > request.scheduled_time
    ]
    if request.catchup is CatchupPolicy.LATEST and newer:
        return (
            f"missed tick: a later one ({max(newer).isoformat(timespec='seconds')}) is due, and the catch-up "
            "policy 'latest' runs only the latest missed tick"
        )
    if request.catchup is CatchupPolicy.NONE and (newer or late_s > LATE_AFTER_S):
        return f"missed tick ({late_s:.0f} s late): the catch-up policy 'none' runs no missed tick"
    return None
