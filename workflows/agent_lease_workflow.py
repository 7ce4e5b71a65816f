"""AgentLeaseWorkflow: one per agent process, id `agent-lease:<queue>:<instance>` — notices the agent's death
within seconds and hands its run watches over (contracts/supervision_lease.py says why)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from contracts.supervision_lease import (
        AGENT_LEASE_WORKFLOW,
        HAND_OVER_SUPERVISION,
        HOLD_AGENT_LEASE,
        LEASE_TIMEOUT,
        AgentLease,
        HandedOver,
        HandOver,
        LeaseBeat,
        LeaseReleased,
    )

# The lease activity only ends by a graceful shutdown or by the agent's death; this merely bounds a runaway.
HOLD_BOUND = timedelta(days=3650)
# An agent that dies before its lease activity starts holds no watch: nothing to hand over then.
HOLD_START_BOUND = timedelta(seconds=60)
HAND_OVER: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)),
}


@workflow.defn(name=AGENT_LEASE_WORKFLOW)
class AgentLeaseWorkflow:
    """Holds one agent's lease; on its timeout, hands the agent's last listed watches over to live agents."""

    @workflow.run
    async def run(self, lease: AgentLease) -> HandedOver:
        """Wait for the lease activity to end; a heartbeat timeout means the agent is dead."""
        try:
            await workflow.execute_activity(
                HOLD_AGENT_LEASE,
                lease,
                result_type=LeaseReleased,
                task_queue=lease.holder_queue,
                start_to_close_timeout=HOLD_BOUND,
                schedule_to_start_timeout=HOLD_START_BOUND,
                heartbeat_timeout=LEASE_TIMEOUT,
                # A lease is never retried: its queue belongs to one process, which is gone.
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            return HandedOver()  # a graceful shutdown: the agent's watches failed over by themselves
        except ActivityError as err:
            beat = _last_beat(err)
        if not beat.watches:
            return HandedOver()
        workflow.logger.info("agent %s is gone; handing %d watch(es) over", lease.agent, len(beat.watches))
        result: HandedOver = await workflow.execute_activity(
            HAND_OVER_SUPERVISION,
            HandOver(agent=lease.agent, watches=beat.watches),
            result_type=HandedOver,
            **HAND_OVER,
        )
        return result


def _last_beat(err: ActivityError) -> LeaseBeat:
    """The watches the lease's last heartbeat listed (none if it never beat or ended otherwise)."""
    cause = err.cause
    if not isinstance(cause, TimeoutError) or cause.type is not TimeoutType.HEARTBEAT:
        return LeaseBeat()
    details = cause.last_heartbeat_details
    if not details:
        return LeaseBeat()
    return LeaseBeat.model_validate(details[0])
