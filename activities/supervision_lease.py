"""The agent's side of its supervision lease: the watches it holds, the lease's beat, and the hand-over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from contracts.supervision_lease import (
    HAND_OVER_SUPERVISION,
    HOLD_AGENT_LEASE,
    SUPERVISION_LOST_SIGNAL,
    AgentLease,
    HandedOver,
    HandOver,
    LeaseBeat,
    LeaseReleased,
    SupervisionLost,
    Watch,
)

log = logging.getLogger("longshoreman.agent.lease")
# The SDK sends the latest beat every LEASE_BEAT_SENT_EVERY; beating as often keeps a fresh one ready.
BEAT_EVERY_S = 0.2
# Signals sent at once by a hand-over: a thousand runs are told in about a second without flooding Temporal.
SIGNALS_IN_FLIGHT = 50


class HeldWatches:
    """The run watches this agent process holds now (in memory: the lease's beat carries them to Temporal)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], int] = {}

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Count the current activity as held while the block runs."""
        info = activity.info()
        key = (info.workflow_id or "", info.activity_id)
        self._held[key] = self._held.get(key, 0) + 1
        try:
            yield
        finally:
            left = self._held.pop(key) - 1
            if left:
                self._held[key] = left

    def beat(self) -> LeaseBeat:
        """What the lease's next heartbeat says."""
        return LeaseBeat(watches=[Watch(workflow_id=w, activity_id=a) for w, a in self._held])


class LeaseActivities:
    """The lease's two activities: holding it (on this agent only) and handing a dead agent's watches over."""

    def __init__(self, watches: HeldWatches, client: Client) -> None:
        self._watches = watches
        self._client = client
        self.expired = asyncio.Event()  # the lease ended while this agent lives: it must take a new one

    @activity.defn(name=HOLD_AGENT_LEASE)
    async def hold_agent_lease(self, lease: AgentLease) -> LeaseReleased:
        """Beat with the held watches until the agent shuts down; canceled (lease lost) → `expired` is set."""
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            while not shutdown.done():
                activity.heartbeat(self._watches.beat())
                await asyncio.wait({shutdown}, timeout=BEAT_EVERY_S)
            return LeaseReleased()
        except asyncio.CancelledError:
            # Temporal gave the lease up while we lived (a beat too late): its watches are being handed over, and
            # watches this agent starts from now on need a lease that covers them.
            log.warning(
                "supervision lease %s lost while the agent lives; taking a new one", activity.info().workflow_id
            )
            self.expired.set()
            raise
        finally:
            shutdown.cancel()

    @activity.defn(name=HAND_OVER_SUPERVISION)
    async def hand_over_supervision(self, hand_over: HandOver) -> HandedOver:
        """Tell each run workflow whose watch the dead agent held to start it again (idempotent: a repeated
        signal names a watch the workflow has already replaced, and is ignored)."""
        by_workflow: dict[str, list[str]] = {}
        for watch in hand_over.watches:
            by_workflow.setdefault(watch.workflow_id, []).append(watch.activity_id)
        gate = asyncio.Semaphore(SIGNALS_IN_FLIGHT)

        async def tell(workflow_id: str, activity_ids: list[str]) -> int:
            async with gate:
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    # The run's next workflow task would go to the dead agent's sticky queue and wait there for
                    # its schedule-to-start timeout: clear it, so the task goes straight to a live agent.
                    await self._client.workflow_service.reset_sticky_task_queue(
                        ResetStickyTaskQueueRequest(
                            namespace=self._client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
                        )
                    )
                    await handle.signal(
                        SUPERVISION_LOST_SIGNAL, SupervisionLost(agent=hand_over.agent, activity_ids=activity_ids)
                    )
                except RPCError as err:
                    if err.status is RPCStatusCode.NOT_FOUND:  # the run has ended meanwhile
                        return 0
                    raise
                return 1

        told = await asyncio.gather(*(tell(w, ids) for w, ids in by_workflow.items()))
        log.info("agent %s is gone: %d run watch(es) handed over", hand_over.agent, sum(told))
        return HandedOver(signaled=sum(told))
