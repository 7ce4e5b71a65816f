"""RunWorkflow: one per run, id `run:<run_id>` — launch, watch, supervise, report; retries infra failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

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
    )
    from contracts.handles import WorkerHandle
    from contracts.runs import RunReport
    from contracts.statuses import RunStatus
    from contracts.temporal import RUN_WORKFLOW, Activities
    from workflows import options, search
    from workflows.errors import cause_of


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Supervises one run from launch to a final status with a concrete reason."""

    def __init__(self) -> None:
        self._seq = 0
        self._status = RunStatus.QUEUED
        self._reports: list[asyncio.Task[None]] = []
        self._watch: asyncio.Task[Any] | None = None

    @workflow.query(name="status")
    def status(self) -> RunStatus:
        """The run's status as this workflow last reported it."""
        return self._status

    @workflow.run
    async def run(self, params: RunWorkflowInput) -> RunResult:
        """Run attempts until success, a user-code failure, or retries of infra failures are used up."""
        request = params.request
        attempt = 1
        try:
            while True:
                self._report(params, RunStatus.STARTING, attempt)
                outcome = await self._attempt(params, attempt)
                retry = outcome.infrastructure and attempt < request.retry.max_attempts
                if outcome.succeeded or not retry:
                    break
                workflow.logger.info("attempt %d failed (%s); retrying", attempt, outcome.reason)
                await workflow.sleep(timedelta(seconds=request.retry.backoff_s))
                attempt += 1
        except asyncio.CancelledError:
            await self._cancel(params, attempt)
            raise
        status = RunStatus.SUCCESS if outcome.succeeded else RunStatus.FAILURE
        await self._final_report(params, status, attempt, outcome.reason)
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
            kubernetes=request.kubernetes,
        )
        try:
            handle = await workflow.execute_activity(
                Activities.LAUNCH_RUN_WORKER, launch, result_type=WorkerHandle, **options.launch()
            )
        except ActivityError as err:
            return RunOutcome(kind=OutcomeKind.LOST, reason=f"launch failed: {cause_of(err)}", infrastructure=True)

        watch = WatchRunInput(handle=handle)
        started = await self._watch_until(
            workflow.start_activity(Activities.AWAIT_RUN_STARTED, watch, result_type=RunStarted, **options.watch()),
            request.start_timeout_s,
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

        self._report(params, RunStatus.STARTED, attempt)
        outcome = await self._watch_until(
            workflow.start_activity(Activities.SUPERVISE_RUN_WORKER, watch, result_type=RunOutcome, **options.watch()),
            request.max_runtime_s,
        )
        if outcome is None:
            await self._stop(params, attempt)
            return RunOutcome(
                kind=OutcomeKind.MAX_RUNTIME,
                reason=f"max runtime exceeded: the run was stopped after {request.max_runtime_s:g} s",
            )
        assert isinstance(outcome, RunOutcome)
        return outcome

    async def _watch_until(self, task: Any, timeout_s: float | None) -> Any:
        """The watch activity's result; None if `timeout_s` (a durable timer) passed first; an outcome if it failed."""
        self._watch = task
        try:
            await workflow.wait_condition(lambda: task.done(), timeout=timeout_s)
        except TimeoutError:
            task.cancel()
            return None
        finally:
            self._watch = None
        try:
            return task.result()
        except ActivityError as err:
            return RunOutcome(kind=OutcomeKind.LOST, reason=f"supervision failed: {cause_of(err)}", infrastructure=True)

    async def _stop(self, params: RunWorkflowInput, attempt: int) -> None:
        stop = StopRunInput(
            run_id=params.run_id,
            attempt=attempt,
            launcher=params.location.launcher,
            grace_s=params.request.cancel_grace_s,
        )
        try:
            await workflow.execute_activity(
                Activities.STOP_RUN_WORKER, stop, result_type=StopResult, **options.stop(stop.grace_s)
            )
        except ActivityError as err:
            workflow.logger.warning("stopping the run worker failed: %s", cause_of(err))

    async def _cancel(self, params: RunWorkflowInput, attempt: int) -> None:
        """Cancellation requested: stop the worker gracefully, then report CANCELED."""
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
        self._report(params, RunStatus.CANCELING, attempt)
        await self._stop(params, attempt)
        await self._final_report(params, RunStatus.CANCELED, attempt, "canceled by request")

    def _report(self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str = "") -> None:
        """Send a status report without waiting: the control plane orders reports by seq."""
        self._seq += 1
        self._status = status
        search.set_run_status(status)
        report = RunReport(run_id=params.run_id, status=status, seq=self._seq, attempt=attempt, reason=reason)
        self._reports.append(asyncio.create_task(self._send(report)))

    async def _send(self, report: RunReport) -> None:
        try:
            await workflow.execute_activity(Activities.REPORT_RUN, report, result_type=Ack, **options.report())
        except ActivityError as err:
            workflow.logger.warning("report %s not delivered: %s", report.status, cause_of(err))

    async def _final_report(self, params: RunWorkflowInput, status: RunStatus, attempt: int, reason: str) -> None:
        """Deliver the final status before completing, as a local activity: one history event, no extra task."""
        await asyncio.gather(*self._reports)
        self._seq += 1
        self._status = status
        search.set_run_status(status)
        report = RunReport(run_id=params.run_id, status=status, seq=self._seq, attempt=attempt, reason=reason)
        try:
            await workflow.execute_local_activity(Activities.REPORT_RUN, report, result_type=Ack, **options.report())
        except ActivityError as err:
            workflow.logger.warning("final report %s not delivered: %s", status, cause_of(err))
