"""ScheduleTickWorkflow: one tick of a schedule, started by its Temporal Schedule at each scheduled time.

Evaluate the tick in the code server (catch-up policy included), launch its run through the control plane with
the idempotency key (schedule, scheduled time) — a tick retried after an agent kill, a control-plane outage or a
Temporal restart gives one run — and report the tick. With an overlap policy other than `allow` it also waits
for its run to end, so the Schedule's own overlap policy (skip, buffer one) governs the runs.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.agent import Ack
    from contracts.automation_flows import (
        ScheduleTickAll,
        ScheduleTickDone,
        ScheduleTickInput,
        ScheduleTickRequest,
        WaitRunsInput,
    )
    from contracts.automations import AutomationKind, OverlapPolicy, TickEvaluation, TickReport
    from contracts.temporal import SCHEDULE_TICK_WORKFLOW, Activities
    from workflows import options
    from workflows.automation_ticks import evaluate, launch_and_report, why

# One activity evaluates, launches and records an on-time tick (before: three activities, a workflow task each).
ONE_ACTIVITY = "schedule-tick-one-activity"
# Room for the launch and the record after the evaluation, within the one activity's timeout.
CONTROL_PLANE_CALLS_S = 20.0

# Set by Temporal on every workflow a Schedule starts (a triggered "run now" included).
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn(name=SCHEDULE_TICK_WORKFLOW)
class ScheduleTickWorkflow:
    """Evaluate, launch, report one tick."""

    @workflow.run
    async def run(self, tick: ScheduleTickInput) -> TickReport:
        """The tick's report (its outcome and run)."""
        scheduled = scheduled_time()
        request = ScheduleTickRequest(
            location=tick.location,
            schedule=tick.schedule,
            schedule_id=tick.schedule_id,
            scheduled_time=scheduled,
            catchup=tick.catchup,
        )
        tick_id = workflow.info().workflow_id
        if workflow.patched(ONE_ACTIVITY):
            report = await self._in_one_activity(tick, request, tick_id)
        else:
            evaluation = await evaluate(Activities.EVALUATE_SCHEDULE_TICK, request, tick.evaluation_timeout_s)
            report = await launch_and_report(
                tick.location, tick.schedule, AutomationKind.SCHEDULE, tick_id, scheduled, evaluation
            )
        if tick.overlap is not OverlapPolicy.ALLOW and report.run_ids:
            await workflow.execute_activity(
                Activities.WAIT_FOR_RUNS, WaitRunsInput(run_ids=report.run_ids), result_type=Ack, **options.watch()
            )
        return report

    async def _in_one_activity(self, tick: ScheduleTickInput, request: ScheduleTickRequest, tick_id: str) -> TickReport:
        """Evaluate, launch and record in one activity (one workflow task and one activity task for the whole
        on-time path); if it could not launch or record, do those here with their long retries (the launch is
        idempotent by the tick's key, so a launch done before the failure gives the same run)."""
        try:
            done: ScheduleTickDone = await workflow.execute_activity(
                Activities.RUN_SCHEDULE_TICK,
                ScheduleTickAll(request=request, tick_id=tick_id),
                result_type=ScheduleTickDone,
                **options.evaluate(tick.evaluation_timeout_s + CONTROL_PLANE_CALLS_S),
            )
        except ActivityError as err:
            evaluation = TickEvaluation(
                error=f"the evaluation failed: {why(err)} (timeout {tick.evaluation_timeout_s:g} s)"
            )
        else:
            if done.report is not None:
                return done.report
            evaluation = done.evaluation
        return await launch_and_report(
            tick.location, tick.schedule, AutomationKind.SCHEDULE, tick_id, request.scheduled_time, evaluation
        )


def scheduled_time() -> datetime:
    """The time this tick was due (the workflow's start when Temporal did not say)."""
    info = workflow.info()
    return info.typed_search_attributes.get(SCHEDULED_START) or info.start_time
