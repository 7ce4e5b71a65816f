"""What every tick of an automation does once it is evaluated: launch its runs, then report how it went.

Shared by the schedule tick, sensor and backfill workflows. Deterministic: activities only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from contracts.agent import Ack
    from contracts.automation_flows import LaunchTickRuns, ReportTickInput, tick_report
    from contracts.automations import (
        AutomationKind,
        AutomationRunsRequest,
        AutomationRunsResult,
        TickEvaluation,
        TickReport,
    )
    from contracts.temporal import Activities
    from workflows import options


def why(err: ActivityError) -> str:
    """Why an activity failed, in one phrase."""
    cause: Any = err.cause
    if isinstance(cause, ActivityTimeout):
        return "it did not finish in time"
    return str(getattr(cause, "message", None) or cause or err)


async def evaluate(activity_name: str, request: BaseModel, timeout_s: float) -> TickEvaluation:
    """Evaluate a tick in the code server; an evaluation that fails or times out is a failed tick, not a failed
    workflow (a sensor goes on ticking)."""
    try:
        evaluation: TickEvaluation = await workflow.execute_activity(
            activity_name, request, result_type=TickEvaluation, **options.evaluate(timeout_s)
        )
    except ActivityError as err:
        return TickEvaluation(error=f"the evaluation failed: {why(err)} (timeout {timeout_s:g} s)")
    return evaluation


async def launch_and_report(
    location: str,
    automation: str,
    kind: AutomationKind,
    tick_id: str,
    scheduled_time: datetime | None,
    evaluation: TickEvaluation,
    backfill_id: str | None = None,
) -> TickReport:
    """Launch the runs the evaluation asked for (idempotent by their keys), then report the tick (idempotent by
    its id). Returns the report: its runs, its outcome."""
    launched = None
    if evaluation.error is None and evaluation.runs:
        request = AutomationRunsRequest(kind=kind, tick_id=tick_id, backfill_id=backfill_id, runs=evaluation.runs)
        try:
            launched = await workflow.execute_activity(
                Activities.LAUNCH_TICK_RUNS,
                LaunchTickRuns(location=location, automation=automation, request=request),
                result_type=AutomationRunsResult,
                **options.report(),
            )
        except ActivityError as err:  # refused for good (the automation or its location is gone)
            launched = AutomationRunsResult(errors=[f"the runs were not launched: {why(err)}"])
    report = tick_report(tick_id, kind, scheduled_time, evaluation, launched, backfill_id)
    try:
        await workflow.execute_activity(
            Activities.REPORT_TICK,
            ReportTickInput(location=location, automation=automation, report=report),
            result_type=Ack,
            **options.report(),
        )
    except ActivityError as err:
        workflow.logger.warning("tick %s of %s/%s not recorded: %s", tick_id, location, automation, why(err))
    return report
