"""BackfillWorkflow: one run per tick of a schedule over a time range, at a bounded rate, id `backfill:<id>`.

Each time is evaluated like a schedule tick (the schedule function decides) and its run launched with the same
idempotency key the schedule itself uses for that time: a backfill issued twice, or over ticks the schedule
already ran, launches nothing twice. Progress is the control plane's count of the backfill's ticks.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.automation_flows import BackfillState, ScheduleTickRequest, backfill_workflow_id
    from contracts.automations import AutomationKind, CatchupPolicy
    from contracts.temporal import BACKFILL_WORKFLOW, Activities
    from workflows.automation_ticks import evaluate, launch_and_report

MAX_TICKS_PER_RUN = 100


@workflow.defn(name=BACKFILL_WORKFLOW)
class BackfillWorkflow:
    """Goes through the times in order, continue-as-new every MAX_TICKS_PER_RUN of them."""

    @workflow.run
    async def run(self, state: BackfillState) -> BackfillState:
        """Every time evaluated and launched."""
        done_here = 0
        while state.next_index < len(state.times):
            if done_here >= MAX_TICKS_PER_RUN:
                workflow.continue_as_new(state)
            scheduled = state.times[state.next_index]
            evaluation = await evaluate(
                Activities.EVALUATE_SCHEDULE_TICK,
                ScheduleTickRequest(
                    location=state.location,
                    schedule=state.schedule,
                    scheduled_time=scheduled,
                    catchup=CatchupPolicy.ALL,
                ),
                state.evaluation_timeout_s,
            )
            tick_id = f"{backfill_workflow_id(state.backfill_id)}:{scheduled.isoformat(timespec='seconds')}"
            await launch_and_report(
                state.location, state.schedule, AutomationKind.SCHEDULE, tick_id, scheduled, evaluation,
                backfill_id=state.backfill_id,
            )  # fmt: skip
            state.next_index += 1
            done_here += 1
            if state.next_index < len(state.times):
                await workflow.sleep(timedelta(seconds=1 / state.rate_per_s))
        return state
