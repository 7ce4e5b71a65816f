"""Activities of a run: launch its worker, watch it start, supervise it to the end, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.base import LaunchError, Phase, ProcessView, launch_failure, wait_worker
from activities.launchers.registry import LauncherRegistry
from activities.polling import heartbeating, watch_until
from activities.supervision_lease import HeldWatches
from contracts.agent import (
    LaunchRunInput,
    OutcomeKind,
    RunOutcome,
    RunStarted,
    StopResult,
    StopRunInput,
    WatchRunInput,
    WorkerLaunch,
)
from contracts.compute_logs import ComputeLogs
from contracts.handles import RunWorkerHandle
from contracts.run_protocol import classify_exit
from contracts.temporal import Activities, run_workflow_id

ENDED = frozenset({Phase.EXITED, Phase.LOST})
STARTED_OR_ENDED = ENDED | {Phase.RUNNING}
# Each wait step lasts at most this long (heartbeats go on meanwhile: activities/polling.py). Longer steps mean
# fewer wake-ups per supervised run: 2.5 s keeps a thousand runs cheap.
STEP_S = 2.5
# The grace period of a stop for a worker whose run's workflow is gone (the run's own setting died with it).
ORPHAN_STOP_GRACE_S = 10.0
T = TypeVar("T")
# How long one launch attempt waits for the control plane to hand out the run's token.
TOKEN_PATIENCE_S = 45.0


class RunActivities:
    """Side effects of RunWorkflow."""

    def __init__(
        self,
        launchers: LauncherRegistry,
        control_plane: ControlPlaneClient,
        poll_interval_s: float = 0.1,
        compute_logs: ComputeLogs | None = None,
        watches: HeldWatches | None = None,
    ):
        self._launchers = launchers
        self._control_plane = control_plane
        self._interval = poll_interval_s
        # The agent's store for every run it launches; without forwarding, no log tail is ever sent.
        self._logs = compute_logs
        self._forward = compute_logs is None or compute_logs.forwarded
        # Listed in the agent's supervision lease while they run: its death hands them over in seconds.
        self.watches = watches or HeldWatches()

    @activity.defn(name=Activities.START_RUN_WORKER)
    async def start_run_worker(self, request: LaunchRunInput) -> WorkerLaunch:
        """Start (or adopt) one attempt's worker, then watch it for `watch_s`: a short job ends meanwhile.

        Most jobs are short. Seeing one end here spares its workflow the watch and supervision activities and
        the workflow tasks between them; a longer job is reported running (or still starting) after `watch_s`.
        """
        launcher = self._launchers.get(request.location.launcher)
        async with heartbeating():
            handle = await self._launch(request)
            if request.watch_s <= 0:
                return WorkerLaunch(handle=handle)
            # Two steps: when the job starts (launch latency), then whether it ends within the watch.
            deadline = time.monotonic() + request.watch_s
            view = await wait_worker(launcher, handle, STARTED_OR_ENDED, request.watch_s, self._interval)
            # Seen running (or already done after running: a short job in a standby worker takes milliseconds).
            seen = view.started or view.phase is Phase.RUNNING
            running_after_s = max(0.0, time.time() - handle.launched_at.timestamp()) if seen else None
            if view.phase is Phase.RUNNING:
                view = await wait_worker(launcher, handle, ENDED, max(0.0, deadline - time.monotonic()), self._interval)
            started = await self._started(handle, view)
            return WorkerLaunch(handle=handle, started=started, running_after_s=running_after_s)

    @activity.defn(name=Activities.LAUNCH_RUN_WORKER)
    async def launch_run_worker(self, request: LaunchRunInput) -> RunWorkerHandle:
        """Start the worker of one run attempt (for workflows begun before start_run_worker existed)."""
        async with heartbeating():
            return await self._launch(request)

    @activity.defn(name=Activities.AWAIT_RUN_STARTED)
    async def await_run_started(self, request: WatchRunInput) -> RunStarted:
        """Return once the job runs, or with its outcome if the worker ended first. The workflow owns the deadline."""
        launcher = self._launchers.get(request.handle.launcher)

        async def step() -> RunStarted | None:
            view = await wait_worker(launcher, request.handle, STARTED_OR_ENDED, STEP_S, self._interval)
            return await self._started(request.handle, view)

        with self.watches.holding():
            return await self._orphan_stopped(request.handle, watch_until(step))

    @activity.defn(name=Activities.SUPERVISE_RUN_WORKER)
    async def supervise_run_worker(self, request: WatchRunInput) -> RunOutcome:
        """Watch the worker until it ends; heartbeats so a dead agent is noticed and another re-attaches."""
        launcher = self._launchers.get(request.handle.launcher)

        async def step() -> RunOutcome | None:
            view = await wait_worker(launcher, request.handle, ENDED, STEP_S, self._interval)
            if view.phase in ENDED:
                return await self._outcome(request.handle, view)
            return None

        with self.watches.holding():
            return await self._orphan_stopped(request.handle, watch_until(step))

    @activity.defn(name=Activities.STOP_RUN_WORKER)
    async def stop_run_worker(self, request: StopRunInput) -> StopResult:
        """Stop one attempt's worker: SIGTERM, the grace period, then SIGKILL; idempotent."""
        launcher = self._launchers.get(request.launcher)
        return await launcher.stop_worker(request.run_id, request.attempt, request.grace_s)

    async def _orphan_stopped(self, handle: RunWorkerHandle, watch: Awaitable[T]) -> T:
        """`watch`'s result; if the run's workflow is gone meanwhile (terminated, timed out: Temporal answers
        the heartbeat with not-found), stop the worker, which nobody else would."""
        try:
            return await watch
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            # "Not found" also answers the heartbeat of an attempt that timed out and was retried elsewhere (a
            # slow agent): that worker is being supervised again. Only a closed workflow makes it an orphan.
            if details is not None and details.not_found and await _workflow_closed(handle.run_id):
                launcher = self._launchers.get(handle.launcher)
                stopping = launcher.stop_worker(handle.run_id, handle.attempt, ORPHAN_STOP_GRACE_S)
                with contextlib.suppress(Exception):
                    await asyncio.shield(stopping)
            raise

    async def _launch(self, request: LaunchRunInput) -> RunWorkerHandle:
        """Launch (or adopt) the worker, asking the control plane for its token only when it really starts."""
        launcher = self._launchers.get(request.location.launcher)
        if self._logs is not None:
            request = request.model_copy(update={"compute_logs": self._logs})

        async def token() -> str:
            # Without a token the worker could not report; wait out a control-plane outage (within this
            # activity's 60 s; the activity's own retries add more) rather than fail a run that can still start.
            deadline = time.monotonic() + TOKEN_PATIENCE_S
            delay = 0.2
            while True:
                try:
                    return await self._control_plane.run_token(request.run_id, request.attempt, self._logs)
                except ApplicationError as err:
                    if err.non_retryable or time.monotonic() + delay > deadline:
                        raise
                activity.heartbeat()
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)

        try:
            return await launcher.launch_worker(request, token)
        except LaunchError as err:
            raise launch_failure(err) from err

    async def _started(self, handle: RunWorkerHandle, view: ProcessView) -> RunStarted | None:
        """What `view` says about the job having started: None while the worker is still starting."""
        if view.phase in ENDED:
            # Ended: either after running the job (a quick job, whose outcome now saves a supervision round
            # trip) or before (the outcome says why).
            return RunStarted(running=view.started, outcome=await self._outcome(handle, view))
        if view.phase is Phase.RUNNING or view.started:
            return RunStarted(running=True)
        return None

    async def _outcome(self, handle: RunWorkerHandle, view: ProcessView) -> RunOutcome:
        launcher = self._launchers.get(handle.launcher)
        if view.phase is Phase.LOST:
            # A final loss (image cannot be pulled...) would fail the same way again: not worth a retry.
            reason = f"run worker lost: {view.message}"
            return RunOutcome(kind=OutcomeKind.LOST, reason=reason, infrastructure=not view.final)
        verdict = classify_exit(
            view.exit_code, view.signal, oom_killed=view.oom_killed, final=view.final, message=view.message
        )
        if verdict.succeeded:
            return RunOutcome(kind=OutcomeKind.EXITED, exit_code=0)
        return RunOutcome(
            kind=OutcomeKind.EXITED,
            exit_code=view.exit_code,
            signal=view.signal,
            reason=verdict.reason,
            infrastructure=verdict.infrastructure,
            log_tail=await launcher.log_tail(handle.name, 2000) if self._forward else "",
        )


async def _workflow_closed(run_id: str) -> bool:
    """True only if Temporal says the run's workflow is no longer running (False when it cannot tell)."""
    try:
        description = (
            await activity.client()
            .get_workflow_handle(run_workflow_id(run_id))
            .describe(rpc_timeout=timedelta(seconds=10))
        )
    except RPCError as err:
        return err.status == RPCStatusCode.NOT_FOUND
    except Exception:
        return False
    return description.status != WorkflowExecutionStatus.RUNNING
