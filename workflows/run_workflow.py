"""RunWorkflow: one per run, id `run:<run_id>` — launch, watch, supervise, report; retries infra failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from contracts.agent import (
        Ack,
        LaunchRunInput,
        OutcomeKind,
        RunOutcome,
        RunResult,
        RunStarted,
        RunWorkflowInput,
        StopResult,
        StopRunInput,
        WatchRunInput,
        WorkerLaunch,
    )
    from contracts.handles import RunWorkerHandle
    from contracts.run_protocol import RunStatus
    from contracts.runs import RunReport
    from contracts.supervision_lease import SUPERVISION_LOST_SIGNAL, SupervisionLost
    from contracts.temporal import RUN_WORKFLOW, Activities
    from workflows import options, search
    from workflows.errors import cause_of

# Workflow change (see README "Replay and workflow changes"): a cancel no longer overrides an outcome the run
# worker reached by itself, and a cancel during the launch is a cancel, not a launch failure.
# Workflow change: one start_run_worker activity launches the worker and watches it briefly (see
# _launch_watch_s); histories recorded before it use launch_run_worker + await_run_started.
LAUNCH_WATCHES_START = "launch-watches-start"
# Workflow change: the run's watches carry their own ids ("watch-N") and a long backstop heartbeat; the agent's
# supervision lease notices its death and a supervision_lost signal starts the watch again on a replica
# (contracts/supervision_lease.py). Histories recorded before it watch with a 2 s heartbeat and no ids.
SUPERVISION_LEASE = "supervision-lease"
# How long the launch watches a new worker: jobs shorter than this need no separate supervision. Short, because
# a longer job is reported STARTED only when the watch ends.
LAUNCH_WATCH_S = 0.5
# After a cancel stopped the worker, how long supervision may take to return the worker's exit status.
EXIT_AFTER_STOP = timedelta(seconds=30)


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Supervises one run from launch to a final status with a concrete reason."""

    def __init__(self) -> None:
        self._seq = 0
        self._status = RunStatus.QUEUED
        self._reports: list[asyncio.Task[None]] = []
        self._watch: asyncio.Task[Any] | None = None
        self._handle: RunWorkerHandle | None = None
        self._attempt_over = False  # between attempts: the last one is judged, a cancel just cancels
        self._watches = 0  # watch activities started under the supervision lease: their ids are watch-1, watch-2…
        self._lost: set[str] = set()  # watch ids whose agent is gone (supervision_lost signals)

    @workflow.query(name="status")
    def status(self) -> RunStatus:
        """The run's status as this workflow last reported it."""
        return self._status

    @workflow.signal(name=SUPERVISION_LOST_SIGNAL)
    def supervision_lost(self, lost: SupervisionLost) -> None:
        """The agent holding these watches died (its lease timed out): start them again elsewhere."""
        self._lost.update(lost.activity_ids)

    @workflow.run
    async def run(self, params: RunWorkflowInput) -> RunResult:
        """Run attempts until success, a user-code failure, or retries of infra failures are used up."""
        request = params.request
        attempt = 1
        try:
            while True:
                # No report here: launching asks the control plane for the attempt's token, which marks the run
                # STARTING there. One request instead of two, and a shorter history.
                self._set_status(RunStatus.STARTING)
                self._attempt_over = False
                outcome = await self._attempt(params, attempt)
                self._attempt_over = True
                retry = outcome.infrastructure and attempt < request.retry.max_attempts
                if outcome.succeeded or not retry:
                    break
                workflow.logger.info("attempt %d failed (%s); retrying", attempt, outcome.reason)
                await workflow.sleep(timedelta(seconds=request.retry.backoff_s))
                attempt += 1
        except asyncio.CancelledError:
            ended = await self._cancel(params, attempt)
            if ended is None:
                raise
            # The worker had finished by itself before the cancel reached it: its outcome stands.
            outcome = ended
        status = RunStatus.SUCCESS if outcome.succeeded else RunStatus.FAILURE
        await self._final_report(params, status, attempt, outcome.reason, outcome.log_tail)
        if status is RunStatus.FAILURE:
            # A failed workflow is what users filter for in the Temporal UI; the reason is already reported.
            raise ApplicationError(outcome.reason, type="RunFailed", non_retryable=True)
        return RunResult(run_id=params.run_id, status=status, attempts=attempt)

    async def _attempt(self, params: RunWorkflowInput, attempt: int) -> RunOutcome:
        request = params.request
        launch = LaunchRunInput(
            run_id=params.run_id,
            attempt=attempt,
            job=request.job,
            config=request.config,
            tags=request.tags,
            location=params.location,
            max_runtime_s=request.max_runtime_s,
            start_timeout_s=request.start_timeout_s,
            kubernetes=request.kubernetes,
        )
        self._handle = None
        early: RunStarted | None = None
        try:
            if workflow.patched(LAUNCH_WATCHES_START):
                # The launch watches the new worker briefly: a short job's outcome comes back with its handle.
                launch.watch_s = _launch_watch_s(request.start_timeout_s)
                launched: WorkerLaunch = await workflow.execute_activity(
                    Activities.START_RUN_WORKER, launch, result_type=WorkerLaunch, **options.launch()
                )
                handle, early = launched.handle, launched.started
            else:
                handle = await workflow.execute_activity(
                    Activities.LAUNCH_RUN_WORKER, launch, result_type=RunWorkerHandle, **options.launch()
                )
            self._handle = handle
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise asyncio.CancelledError from err
            return RunOutcome(kind=OutcomeKind.LOST, reason=f"launch failed: {cause_of(err)}", infrastructure=True)

        watch = WatchRunInput(handle=handle)
        started: RunStarted | RunOutcome | None = early
        if early is None:
            started = await self._watch_until(
                Activities.AWAIT_RUN_STARTED, watch, RunStarted, request.start_timeout_s - launch.watch_s
            )
        if started is None:
            await self._stop(params, attempt)
            return RunOutcome(
                kind=OutcomeKind.START_TIMEOUT,
                reason=f"start timeout: the run worker was not running within {request.start_timeout_s:g} s",
                infrastructure=True,
            )
        if isinstance(started, RunOutcome):
            return started
        if not started.running:
            return started.outcome or RunOutcome(kind=OutcomeKind.LOST, reason="worker ended", infrastructure=True)
        if early is not None and early.outcome is not None:
            # It ran and ended while the launch watched: the final report says all a STARTED report would.
            return early.outcome

        self._report(params, RunStatus.STARTED, attempt)
        if started.outcome is not None:
            return started.outcome  # it ran and has already ended
        outcome = await self._watch_until(Activities.SUPERVISE_RUN_WORKER, watch, RunOutcome, request.max_runtime_s)
        if outcome is None:
            await self._stop(params, attempt)
            return RunOutcome(
                kind=OutcomeKind.MAX_RUNTIME,
                reason=f"max runtime exceeded: the run was stopped after {request.max_runtime_s:g} s",
            )
        assert isinstance(outcome, RunOutcome)
        return outcome

    async def _watch_until(self, name: str, watch: WatchRunInput, result_type: type, timeout_s: float | None) -> Any:
        """The watch activity's result; None if `timeout_s` (a durable timer) passed first; an outcome if it failed.

        Under the supervision lease, a watch whose agent died is canceled (without waiting for the dead agent) and
        started again, within the same deadline.
        """
        leased = workflow.patched(SUPERVISION_LEASE)
        deadline = None if timeout_s is None else workflow.now() + timedelta(seconds=timeout_s)
        remaining = timeout_s
        while True:
            task, watch_id = self._start_watch(name, watch, result_type, leased)
            self._watch = task
            try:
                await workflow.wait_condition(self._ended_or_lost(task, watch_id), timeout=remaining)
            except TimeoutError:
                task.cancel()
                self._watch = None
                return None
            if task.done():
                break
            workflow.logger.info("the agent supervising this run is gone; watching again on another agent")
            task.cancel()
            if deadline is not None:
                remaining = max(0.0, (deadline - workflow.now()).total_seconds())
        # Not cleared when the wait is canceled: a cancel needs the watch to learn how the worker ended.
        self._watch = None
        try:
            return task.result()
        except ActivityError as err:
            return RunOutcome(kind=OutcomeKind.LOST, reason=f"supervision failed: {cause_of(err)}", infrastructure=True)

    def _ended_or_lost(self, task: asyncio.Task[Any], watch_id: str) -> Callable[[], bool]:
        return lambda: task.done() or watch_id in self._lost

    def _start_watch(
        self, name: str, watch: WatchRunInput, result_type: type, leased: bool
    ) -> tuple[asyncio.Task[Any], str]:
        if not leased:
            return workflow.start_activity(name, watch, result_type=result_type, **options.watch()), ""
        self._watches += 1
        watch_id = f"watch-{self._watches}"
        task = workflow.start_activity(
            name, watch, result_type=result_type, activity_id=watch_id, **options.supervise()
        )
        return task, watch_id

    async def _stop(self, params: RunWorkflowInput, attempt: int) -> StopResult | None:
        stop = StopRunInput(
            run_id=params.run_id,
            attempt=attempt,
            launcher=params.location.launcher,
            grace_s=params.request.cancel_grace_s,
        )
        try:
            result: StopResult = await workflow.execute_activity(
                Activities.STOP_RUN_WORKER, stop, result_type=StopResult, **options.stop(stop.grace_s)
            )
            return result
        except ActivityError as err:
            workflow.logger.warning("stopping the run worker failed: %s", cause_of(err))
            return None

    async def _cancel(self, params: RunWorkflowInput, attempt: int) -> RunOutcome | None:
        """Cancellation requested: stop the worker gracefully, then report CANCELED.

        Returns instead the worker's own outcome when it had already finished (exited 0 or with the job's
        failure) before the stop reached it: the job's events say so, and the final status must agree.
        """
        watch = self._watch
        self._report(params, RunStatus.CANCELING, attempt)
        stopped = await self._stop(params, attempt)
        ended = None if self._attempt_over else await self._ended_by_itself(watch) or _exited_before(stopped)
        if ended is not None:
            return ended
        detail = f": {stopped.detail}" if stopped is not None and stopped.detail else ""
        await self._final_report(params, RunStatus.CANCELED, attempt, f"canceled by request{detail}")
        return None

    async def _ended_by_itself(self, watch: asyncio.Task[Any] | None) -> RunOutcome | None:
        """The watch's outcome if the worker exited by itself; None if it was stopped (or is unknown)."""
        if watch is None:
            return None
        try:
            # The worker is stopped now, so the watch returns its exit status promptly.
            await workflow.wait_condition(lambda: watch.done(), timeout=EXIT_AFTER_STOP)
        except TimeoutError:
            watch.cancel()
            return None
        try:
            result = watch.result()
            if (
                isinstance(result, RunStarted)
                and result.running
                and result.outcome is None
                and self._handle is not None
            ):
                # It got as far as running the job: only supervision can say how it ended.
                result = await workflow.execute_activity(
                    Activities.SUPERVISE_RUN_WORKER,
                    WatchRunInput(handle=self._handle),
                    result_type=RunOutcome,
                    **options.watch(EXIT_AFTER_STOP),
                )
        except (ActivityError, asyncio.CancelledError):
            return None
        outcome = result.outcome if isinstance(result, RunStarted) else result
        # Stopped by a signal (128 + N is the executor's answer to our SIGTERM): a real cancel.
        if isinstance(outcome, RunOutcome) and outcome.ended_by_itself:
            return outcome
        return None

    def _set_status(self, status: RunStatus) -> None:
        """The status this workflow reports by query and search attribute."""
        self._status = status
        search.set_run_status(status)

    def _report(self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str = "") -> None:
        """Send a status report without waiting: the control plane orders reports by seq."""
        self._seq += 1
        self._set_status(status)
        report = RunReport(run_id=params.run_id, status=status, seq=self._seq, attempt=attempt, reason=reason)
        self._reports.append(asyncio.create_task(self._send(report)))

    async def _send(self, report: RunReport) -> None:
        try:
            await workflow.execute_activity(Activities.REPORT_RUN, report, result_type=Ack, **options.report())
        except ActivityError as err:
            workflow.logger.warning("report %s not delivered: %s", report.status, cause_of(err))

    async def _final_report(
        self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str, log_tail: str = ""
    ) -> None:
        """Deliver the final status before completing; a cancel arriving meanwhile must not stop the delivery
        (the outcome is decided, and the control plane would show the run unfinished for ever)."""
        delivery = asyncio.ensure_future(self._deliver_final(params, status, attempt, reason, log_tail))
        try:
            await asyncio.shield(delivery)
        except asyncio.CancelledError:
            await delivery

    async def _deliver_final(
        self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str, log_tail: str
    ) -> None:
        """The final report as a local activity (one history event, no extra task), after the earlier ones."""
        await asyncio.gather(*self._reports)
        self._seq += 1
        self._status = status
        search.set_run_status(status)
        report = RunReport(
            run_id=params.run_id, status=status, seq=self._seq, attempt=attempt, reason=reason, log_tail=log_tail
        )
        try:
            await workflow.execute_local_activity(Activities.REPORT_RUN, report, result_type=Ack, **options.report())
        except ActivityError as err:
            workflow.logger.warning("final report %s not delivered: %s", status, cause_of(err))


def _launch_watch_s(start_timeout_s: float) -> float:
    """The launch's watch: LAUNCH_WATCH_S, but never most of the start timeout (the rest is waited for after)."""
    return min(LAUNCH_WATCH_S, start_timeout_s / 4)


def _exited_before(stopped: StopResult | None) -> RunOutcome | None:
    """The outcome of a worker the stop found already exited by itself (known when no watch was running)."""
    if stopped is None or not stopped.ended_by_itself:
        return None
    if stopped.exit_code == 0:
        return RunOutcome(kind=OutcomeKind.EXITED, exit_code=0)
    reason = f"run worker exited with code {stopped.exit_code} before the cancel reached it; see the run's events"
    return RunOutcome(kind=OutcomeKind.EXITED, exit_code=stopped.exit_code, reason=reason)
