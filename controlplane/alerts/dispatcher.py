"""From the outbox to Temporal: each pending event starts one delivery workflow per matching policy.

Woken by the commit that stored an event (this process), and by a sweep every ALERT_SWEEP_INTERVAL_S for what
another process stored and could not dispatch (it died, Temporal was down). Replicas may race for one event:
the workflow id `alert:<policy>:<event id>` makes Temporal start it once, whoever asks, however often.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.alerts import (
    AGENT_WATCH_WORKFLOW,
    ALERT_DELIVERY_WORKFLOW,
    AgentWatchState,
    AlertDeliveryInput,
    AlertEvent,
    AlertEventKind,
    AlertPolicy,
)
from contracts.temporal import WORKFLOW_TASK_TIMEOUT
from controlplane.alerts.event_store import EventStore
from controlplane.alerts.matching import matches
from controlplane.alerts.policy_store import PolicyStore
from controlplane.errors import NotFound
from controlplane.temporal_gateway import TemporalGateway

log = logging.getLogger(__name__)
# The sweep leaves the newest events to the process that stored them (it is dispatching them right now).
SWEEP_MIN_AGE_S = 2.0
# Old events and delivery records are removed on one sweep in this many.
PRUNE_EVERY_SWEEPS = 120


def delivery_workflow_id(policy: str, event_id: str) -> str:
    """One workflow per (policy, event)."""
    return f"alert:{policy}:{event_id}"


def agent_watch_workflow_id(agent: str) -> str:
    """One watch per agent name."""
    return f"agent-watch:{agent}"


class AlertDispatcher:
    """Starts the workflows of pending alert events."""

    def __init__(
        self,
        policies: PolicyStore,
        events: EventStore,
        temporal: TemporalGateway,
        *,
        task_queue: str,
        retry_period_s: float,
        retry_max_interval_s: float,
        sweep_interval_s: float,
        agent_check_interval_s: float,
        history_days: float = 30.0,
    ) -> None:
        self._policies = policies
        self._events = events
        self._temporal = temporal
        self.task_queue = task_queue
        self._retry_period_s = retry_period_s
        self._retry_max_interval_s = retry_max_interval_s
        self._sweep_interval_s = sweep_interval_s
        self._agent_check_interval_s = agent_check_interval_s
        self._history_days = history_days
        self._sweeps = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def kick(self) -> None:
        """Dispatch soon; callable from any thread (a store's commit runs in a worker thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run_forever(self) -> None:
        """Dispatch when woken by a commit, and sweep now and then; until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            swept = False
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_interval_s)
            except TimeoutError:
                swept = True
            self._wake.clear()
            try:
                if swept:
                    self._sweeps += 1
                    if self._sweeps % PRUNE_EVERY_SWEEPS == 1:
                        await asyncio.to_thread(self._events.prune, self._history_days)
                await self.dispatch_pending(SWEEP_MIN_AGE_S if swept else 0.0)
            except Exception as err:  # Temporal or the database down: the next sweep tries again
                log.warning("alert events not dispatched yet (%s); retrying in %.0f s", err, self._sweep_interval_s)

    async def dispatch_pending(self, older_than_s: float = 0.0) -> int:
        """Start the workflows of every pending event; returns how many events were dispatched."""
        async with self._lock:
            pending = await asyncio.to_thread(self._events.pending, older_than_s)
            if not pending:
                return 0
            policies = await asyncio.to_thread(self._policies.for_matching)
            done = await asyncio.gather(*(self._dispatch(event, policies) for event in pending), return_exceptions=True)
            dispatched = [event.id for event, result in zip(pending, done, strict=True) if result is True]
            failures = [result for result in done if isinstance(result, BaseException)]
            await asyncio.to_thread(self._events.mark_dispatched, dispatched)
            if failures:
                raise failures[0]
            return len(dispatched)

    async def _dispatch(self, event: AlertEvent, policies: list[AlertPolicy]) -> bool:
        if event.kind is AlertEventKind.AGENT_STARTED:
            await self._start_watch(event.subject)
            return True
        if event.kind is AlertEventKind.TEST:
            try:
                targets = [await asyncio.to_thread(self._policies.get, str(event.details.get("policy")))]
            except NotFound:
                targets = []  # removed since
        else:
            # A policy without a channel tells nobody: it starts nothing (the default policy, until given one).
            targets = [policy for policy in policies if policy.channels and matches(policy, event)]
        await asyncio.gather(*(self._start_delivery(policy, event) for policy in targets))
        return True

    async def _start_delivery(self, policy: AlertPolicy, event: AlertEvent) -> None:
        delay = policy.thresholds.delay_of(event.kind)
        request = AlertDeliveryInput(
            policy=policy.name,
            event_id=event.id,
            event_kind=event.kind,
            fire_at=event.since + timedelta(seconds=delay) if delay else None,
            retry_period_s=self._retry_period_s,
            retry_max_interval_s=self._retry_max_interval_s,
        )
        try:
            await self._temporal.client.start_workflow(
                ALERT_DELIVERY_WORKFLOW,
                request,
                id=delivery_workflow_id(policy.name, event.id),
                task_queue=self.task_queue,
                # A task held by a control plane that died reaches a replica in 3 s (Temporal's default: 10 s).
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            pass  # another replica, or an earlier sweep, started it: one delivery per (policy, event)

    async def _start_watch(self, agent: str) -> None:
        state = AgentWatchState(agent=agent, check_interval_s=self._agent_check_interval_s)
        try:
            await self._temporal.client.start_workflow(
                AGENT_WATCH_WORKFLOW,
                state,
                id=agent_watch_workflow_id(agent),
                task_queue=self.task_queue,
                # A task held by a control plane that died reaches a replica in 3 s (Temporal's default: 10 s).
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                # A watch ends when its agent stopped on purpose; the agent's next start begins a new one.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            pass
