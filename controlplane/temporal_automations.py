"""The Temporal side of automations: a Temporal Schedule per schedule, a SensorWorkflow per sensor, backfills.

Part of the control plane's one boundary to Temporal (it works through TemporalGateway's client and error
mapping). Every call is idempotent: the sync (controlplane/automation_sync.py) may repeat any of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import search_attributes as attributes
from contracts.automation_flows import (
    BackfillState,
    ScheduleTickInput,
    SensorSettings,
    SensorState,
    backfill_workflow_id,
)
from contracts.automations import AutomationStatus, OverlapPolicy, ScheduleDefinition, SensorDefinition
from contracts.temporal import (
    BACKFILL_WORKFLOW,
    SCHEDULE_TICK_WORKFLOW,
    SENSOR_WORKFLOW,
    STATUS_QUERY,
    UPDATE_SETTINGS_SIGNAL,
    WORKFLOW_TASK_TIMEOUT,
)
from controlplane.automation_store import Desired
from controlplane.errors import Invalid
from controlplane.temporal_gateway import RPC_TIMEOUT, TemporalGateway

OVERLAP = {
    OverlapPolicy.ALLOW: ScheduleOverlapPolicy.ALLOW_ALL,
    OverlapPolicy.SKIP: ScheduleOverlapPolicy.SKIP,
    OverlapPolicy.BUFFER_ONE: ScheduleOverlapPolicy.BUFFER_ONE,
}
# Ticks missed while Temporal itself was down are started within this window; the catch-up policy then decides.
CATCHUP_WINDOW = timedelta(days=1)


class TemporalAutomations:
    """Creates, updates, pauses and deletes the Temporal objects of automations."""

    def __init__(self, gateway: TemporalGateway, evaluation_timeout_s: float) -> None:
        self._gateway = gateway
        self._client = gateway.client
        self._timeout_s = evaluation_timeout_s

    # ---- schedules -----------------------------------------------------------------------------

    async def apply_schedule(self, item: Desired) -> None:
        """The Temporal Schedule of `item` exists with its spec and paused while STOPPED (or is gone if removed)."""
        if item.removed:
            await self.delete_schedule(item.temporal_id)
            return
        definition = ScheduleDefinition.model_validate(item.definition)
        async with self._gateway.rpc(f"create schedule {item.temporal_id}"):
            while True:
                searchable = self._gateway.search_attributes_registered is not False
                try:
                    await self._put_schedule(item, self._schedule(item, definition, searchable), searchable)
                    return
                except RPCError as err:
                    if err.status != RPCStatusCode.INVALID_ARGUMENT:
                        raise
                    if searchable and "search attribute" in err.message.lower():
                        self._gateway.search_attributes_registered = False  # as for workflows: without them
                        continue
                    # A cron or time zone Temporal cannot read.
                    when = f"cron {definition.cron!r}" if definition.cron else f"every {definition.every_s:g} s"
                    raise Invalid(
                        f"Temporal refused the schedule ({when}, {definition.timezone}): {err.message}"
                    ) from err

    async def _put_schedule(self, item: Desired, schedule: Schedule, searchable: bool) -> None:
        try:
            await self._client.create_schedule(
                item.temporal_id,
                schedule,
                search_attributes=TypedSearchAttributes([SearchAttributePair(attributes.LOCATION, item.location)])
                if searchable
                else None,
                rpc_timeout=RPC_TIMEOUT,
            )
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await self._client.get_schedule_handle(item.temporal_id).update(replace, rpc_timeout=RPC_TIMEOUT)

    def _schedule(self, item: Desired, definition: ScheduleDefinition, searchable: bool) -> Schedule:
        if definition.cron is not None:
            spec = ScheduleSpec(cron_expressions=[definition.cron], time_zone_name=definition.timezone)
        else:
            every = timedelta(seconds=definition.every_s or 60)
            spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)], time_zone_name=definition.timezone)
        search = [
            SearchAttributePair(attributes.LOCATION, item.location),
            SearchAttributePair(attributes.JOB, definition.job),
            SearchAttributePair(attributes.AGENT, item.queue),
        ]
        action = ScheduleActionStartWorkflow(
            SCHEDULE_TICK_WORKFLOW,
            ScheduleTickInput(
                location=item.location,
                schedule=item.name,
                schedule_id=item.temporal_id,
                overlap=definition.overlap,
                catchup=definition.catchup,
                evaluation_timeout_s=self._timeout_s,
            ),
            id=f"tick:{item.location}:{item.name}",
            task_queue=item.queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            typed_search_attributes=TypedSearchAttributes(search if searchable else []),
        )
        return Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(overlap=OVERLAP[definition.overlap], catchup_window=CATCHUP_WINDOW),
            state=ScheduleState(
                paused=item.status is AutomationStatus.STOPPED, note=f"{item.location}/{item.name}: {item.status}"
            ),
        )

    async def delete_schedule(self, temporal_id: str) -> None:
        """Delete a Temporal Schedule (already gone: nothing to do)."""
        async with self._gateway.rpc(f"delete schedule {temporal_id}"):
            try:
                await self._client.get_schedule_handle(temporal_id).delete(rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    async def trigger(self, temporal_id: str) -> None:
        """Tick a schedule now ("run now"): a tick with the current time, whatever its overlap policy."""
        async with self._gateway.rpc(f"trigger schedule {temporal_id}"):
            await self._client.get_schedule_handle(temporal_id).trigger(
                overlap=ScheduleOverlapPolicy.ALLOW_ALL, rpc_timeout=RPC_TIMEOUT
            )

    async def schedule_times(self, temporal_id: str, start: datetime, end: datetime) -> list[datetime]:
        """The times the schedule ticks between `start` and `end`, by Temporal's own reading of its spec."""
        # Temporal lists the times strictly after its start: ask from a second earlier so that a range starting
        # on a tick includes it, then keep [start, end] exactly.
        request = ListScheduleMatchingTimesRequest(
            namespace=self._client.namespace,
            schedule_id=temporal_id,
            start_time=_stamp(start - timedelta(seconds=1)),
            end_time=_stamp(end),
        )
        async with self._gateway.rpc(f"list the times of schedule {temporal_id}"):
            answer = await self._client.workflow_service.list_schedule_matching_times(request, timeout=RPC_TIMEOUT)
        times = [stamp.ToDatetime(tzinfo=start.tzinfo) for stamp in answer.start_time]
        return [moment for moment in times if start <= moment <= end]

    # ---- sensors -------------------------------------------------------------------------------

    async def apply_sensor(self, item: Desired) -> None:
        """The SensorWorkflow of `item` runs while RUNNING (settings up to date), and is gone otherwise."""
        handle = self._client.get_workflow_handle(item.temporal_id)
        if item.removed or item.status is AutomationStatus.STOPPED:
            async with self._gateway.rpc(f"stop sensor {item.temporal_id}"):
                try:
                    # Safe at any moment: a tick cut short is evaluated again from the stored cursor, and its
                    # runs are idempotent by run key.
                    await handle.terminate(reason=f"sensor {'removed' if item.removed else 'stopped'}")
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
            return
        definition = SensorDefinition.model_validate(item.definition)
        settings = SensorSettings(
            minimum_interval_s=definition.minimum_interval_s, evaluation_timeout_s=self._timeout_s
        )
        state = SensorState(location=item.location, sensor=item.name, cursor=item.cursor, **settings.model_dump())
        async with self._gateway.rpc(f"start sensor {item.temporal_id}"):
            try:
                await self._gateway.start_workflow(
                    SENSOR_WORKFLOW,
                    state,
                    search=[
                        SearchAttributePair(attributes.LOCATION, item.location),
                        SearchAttributePair(attributes.JOB, definition.job),
                        SearchAttributePair(attributes.AGENT, item.queue),
                    ],
                    id=item.temporal_id,
                    task_queue=item.queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    rpc_timeout=RPC_TIMEOUT,
                )
            except WorkflowAlreadyStartedError:
                # Running already: only a changed interval or timeout is worth a signal (one in its history).
                running = await handle.query(STATUS_QUERY, result_type=SensorState, rpc_timeout=RPC_TIMEOUT)
                if (running.minimum_interval_s, running.evaluation_timeout_s) != (
                    settings.minimum_interval_s,
                    settings.evaluation_timeout_s,
                ):
                    await handle.signal(UPDATE_SETTINGS_SIGNAL, settings, rpc_timeout=RPC_TIMEOUT)

    # ---- backfills -----------------------------------------------------------------------------

    async def start_backfill(self, state: BackfillState, queue: str) -> None:
        """Start the backfill's workflow on the location's agent queue."""
        workflow_id = backfill_workflow_id(state.backfill_id)
        async with self._gateway.rpc(f"start {workflow_id}"):
            await self._gateway.start_workflow(
                BACKFILL_WORKFLOW,
                state,
                search=[SearchAttributePair(attributes.LOCATION, state.location)],
                id=workflow_id,
                task_queue=queue,
                rpc_timeout=RPC_TIMEOUT,
            )


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
