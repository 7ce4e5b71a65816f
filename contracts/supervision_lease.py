"""The agent's supervision lease: one liveness beat per agent instead of one fast heartbeat per supervised run.

Each agent process holds one lease: an activity on a queue only it polls, heartbeating every fraction of a second
with the list of run watches it holds. When the agent dies, Temporal times the lease out within LEASE_TIMEOUT and
the lease's workflow (on the queue's shared lease queue, run by any live agent) signals each listed run workflow
to start its watch again; a replica picks it up. The run watches themselves heartbeat rarely (a long backstop
timeout), so a thousand supervised runs cost a few heartbeat calls per second instead of hundreds.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

AGENT_LEASE_WORKFLOW = "AgentLeaseWorkflow"
HOLD_AGENT_LEASE = "hold_agent_lease"
HAND_OVER_SUPERVISION = "hand_over_supervision"
SUPERVISION_LOST_SIGNAL = "supervision_lost"

# A dead agent's lease times out this long after its last beat reached Temporal. Short: it is most of the takeover
# time; five beats per timeout, so a busy live agent does not lose it.
LEASE_TIMEOUT = timedelta(seconds=1.5)
# How often the lease's beat is sent: about three calls per second per agent, however many runs it holds. A watch
# is listed in Temporal this long after it starts; one started later than that before the agent died is
# re-attached by its backstop instead.
LEASE_BEAT_SENT_EVERY = timedelta(seconds=0.3)
# A run watch's own heartbeat timeout: the backstop if the lease path fails (its signal lost, a watch attached
# after the lease's last beat). The SDK then sends a watch's heartbeat every 16 s instead of every 1.6 s.
WATCH_BACKSTOP_TIMEOUT = timedelta(seconds=20)


def lease_queue(task_queue: str) -> str:
    """The task queue of a queue's lease workflows, polled by every agent of that queue."""
    return f"{task_queue}.leases"


def holder_queue(task_queue: str, instance_id: str) -> str:
    """The task queue only one agent process polls: its lease activity runs there and nowhere else."""
    return f"{task_queue}.lease.{instance_id}"


def lease_workflow_id(task_queue: str, instance_id: str) -> str:
    """Workflow id of one agent process's lease (a new one per process start and per expiry)."""
    return f"agent-lease:{task_queue}:{instance_id}"


class Watch(BaseModel):
    """One run watch an agent holds: its run workflow and the watch activity's id in it."""

    workflow_id: str
    activity_id: str


class AgentLease(BaseModel):
    """Input of AgentLeaseWorkflow: whose lease and where its holding activity runs."""

    agent: str  # the agent process's Temporal identity, for the log and the signal
    holder_queue: str  # only this agent polls it: see holder_queue()


class LeaseBeat(BaseModel):
    """A lease's heartbeat: the watches the agent holds now (Temporal keeps the last one for the timeout)."""

    watches: list[Watch] = Field(default_factory=list)


class HandOver(BaseModel):
    """Input of hand_over_supervision: the dead agent's watches to start again elsewhere."""

    agent: str
    watches: list[Watch]


class HandedOver(BaseModel):
    """How many run workflows were told; those already closed are not counted."""

    signaled: int = 0


class LeaseReleased(BaseModel):
    """The lease activity ended because its agent shut down gracefully: nothing to hand over."""


class SupervisionLost(BaseModel):
    """Signal to a run workflow: the agent holding these watches is gone; start them again."""

    agent: str
    activity_ids: list[str]
