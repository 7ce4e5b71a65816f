"""SensorWorkflow: one per sensor, id `sensor:<location>:<name>` — evaluate, launch, keep the cursor, wait.

Each tick: evaluate in the code server with the last cursor, launch the run requests through the control plane
(idempotent by run key for the sensor's lifetime: redeploys and continue-as-new included), report the tick,
and only then keep the new cursor — a tick cut short anywhere before that is evaluated again from the old
cursor and launches nothing twice. Then a durable timer until `minimum_interval_s` after the tick began. The
state (cursor included) goes through continue-as-new every MAX_TICKS_PER_RUN ticks: the history stays small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ContinueAsNewVersioningBehavior

with workflow.unsafe.imports_passed_through():
    from contracts.automation_flows import SensorSettings, SensorState, SensorTickRequest, sensor_workflow_id
    from contracts.automations import AutomationKind
    from contracts.temporal import SENSOR_WORKFLOW, STATUS_QUERY, STOP_SIGNAL, UPDATE_SETTINGS_SIGNAL, Activities
    from workflows.automation_ticks import evaluate, launch_and_report

MAX_TICKS_PER_RUN = 100


@workflow.defn(name=SENSOR_WORKFLOW)
class SensorWorkflow:
    """Ticks until stopped."""

    @workflow.init
    def __init__(self, state: SensorState) -> None:
        self.state = state

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> SensorState:
        """The whole state: cursor, last tick, settings."""
        return self.state

    @workflow.signal(name=STOP_SIGNAL)
    def stop(self) -> None:
        """Stop ticking and finish (a tick under way ends first)."""
        self.state.stop_requested = True

    @workflow.signal(name=UPDATE_SETTINGS_SIGNAL)
    def update_settings(self, settings: SensorSettings) -> None:
        """A redeploy changed the sensor's interval or timeout: the next tick uses them."""
        self.state.minimum_interval_s = settings.minimum_interval_s
        self.state.evaluation_timeout_s = settings.evaluation_timeout_s

    @workflow.run
    async def run(self, state: SensorState) -> SensorState:
        """Tick every minimum interval until stopped; continue-as-new now and then."""
        ticks_here = 0
        while not self.state.stop_requested:
            info = workflow.info()
            if info.is_target_worker_deployment_version_changed():
                # Pinned to its agent version (agent/versioning.py), a sensor moves to the current one between
                # ticks: nothing but its state goes along.
                workflow.continue_as_new(
                    self.state, initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE
                )
            if ticks_here >= MAX_TICKS_PER_RUN or info.is_continue_as_new_suggested():
                workflow.continue_as_new(self.state)
            began = workflow.now()
            await self._tick()
            ticks_here += 1
            wait_s = self.state.minimum_interval_s - (workflow.now() - began).total_seconds()
            if wait_s > 0:
                try:
                    await workflow.wait_condition(lambda: self.state.stop_requested, timeout=timedelta(seconds=wait_s))
                except TimeoutError:
                    pass
        return self.state

    async def _tick(self) -> None:
        state = self.state
        state.ticks += 1
        began = workflow.now()
        evaluation = await evaluate(
            Activities.EVALUATE_SENSOR_TICK,
            SensorTickRequest(
                location=state.location, sensor=state.sensor, cursor=state.cursor, last_tick_time=state.last_tick_time
            ),
            state.evaluation_timeout_s,
        )
        if evaluation.error is not None:
            evaluation.cursor = state.cursor  # a failed evaluation changes nothing
        tick_id = f"{sensor_workflow_id(state.location, state.sensor)}:{state.ticks}"
        report = await launch_and_report(state.location, state.sensor, AutomationKind.SENSOR, tick_id, None, evaluation)
        # The runs are launched (a request the control plane refused, say for a bad config, would be refused
        # again: the tick's FAILURE says so): only now may the cursor move past them.
        state.cursor = report.cursor
        state.last_tick_time = began
