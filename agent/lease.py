"""The agent process's supervision lease: its two extra Temporal workers and the loop that keeps a lease held."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.supervision_lease import HeldWatches, LeaseActivities
from contracts.supervision_lease import (
    LEASE_BEAT_SENT_EVERY,
    AgentLease,
    holder_queue,
    lease_queue,
    lease_workflow_id,
)
from contracts.temporal import WORKFLOW_TASK_TIMEOUT
from workflows.agent_lease_workflow import AgentLeaseWorkflow
from workflows.catalog import LEASE_WORKFLOWS

log = logging.getLogger("longshoreman.agent.lease")


class SupervisionLease:
    """Holds this agent's lease while the agent runs and takes a new one if Temporal ever gives it up.

    Two workers: the queue's lease queue (every agent polls it: lease workflows and hand-overs run on whichever
    agent lives; no workflow cache, so a dead agent's sticky queue never delays a hand-over) and this process's
    own holder queue (only its lease activity runs there).
    """

    def __init__(self, client: Client, task_queue: str, watches: HeldWatches) -> None:
        self._client = client
        self._task_queue = task_queue
        self._instance_id = uuid.uuid4().hex[:16]
        self._activities = LeaseActivities(watches, client)
        self._shared = Worker(
            client,
            task_queue=lease_queue(task_queue),
            workflows=list(LEASE_WORKFLOWS),
            activities=[self._activities.hand_over_supervision],
            max_cached_workflows=0,
        )
        self._holder = Worker(
            client,
            task_queue=holder_queue(task_queue, self._instance_id),
            activities=[self._activities.hold_agent_lease],
            max_concurrent_activities=4,
            # The SDK would send a beat every 0.8 x LEASE_TIMEOUT; this often instead, so a watch is listed in
            # Temporal within a fraction of a second of its start (one call per agent, whatever it runs).
            max_heartbeat_throttle_interval=LEASE_BEAT_SENT_EVERY,
            # Time for the lease activity to return "released" at a graceful stop instead of being canceled.
            graceful_shutdown_timeout=timedelta(seconds=2),
        )

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Run both workers and keep a lease held inside the block; at its end the lease is released."""
        async with self._shared, self._holder:
            keeper = asyncio.create_task(self._keep())
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    async def _keep(self) -> None:
        generation = 0
        while True:
            generation += 1
            await self._take(f"{self._instance_id}-{generation}")
            await self._activities.expired.wait()
            self._activities.expired.clear()

    async def _take(self, lease_id: str) -> None:
        """Start a lease workflow; retried until Temporal takes it (the watches' backstop covers the gap)."""
        lease = AgentLease(agent=self._client.identity, holder_queue=holder_queue(self._task_queue, self._instance_id))
        while True:
            try:
                await self._client.start_workflow(
                    AgentLeaseWorkflow.run,
                    lease,
                    id=lease_workflow_id(self._task_queue, lease_id),
                    task_queue=lease_queue(self._task_queue),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                )
            except WorkflowAlreadyStartedError:
                pass  # taken by an earlier try whose answer was lost
            except RPCError as err:
                log.warning("cannot take a supervision lease yet (%s); retrying", err)
                await asyncio.sleep(1.0)
                continue
            log.info("supervision lease %s held", lease_id)
            return
