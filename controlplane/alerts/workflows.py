"""The control plane's workflows: one delivery per (policy, event), one watch per agent. Deterministic: the
activities (controlplane/alerts/activities.py) do every read, write and send.

AlertDeliveryWorkflow, id `alert:<policy>:<event id>` (Temporal refuses a second one, so one alert per pair):
wait until the policy's threshold has passed (a durable timer: "running longer than 24 h" survives every
restart), decide (the condition still holds? the policy still wants it?), then deliver to every channel at once,
each channel one activity retried with exponential backoff for the retry period; a channel that ran out of it
is recorded `gave_up`. Short histories: a few events per channel.

AgentWatchWorkflow, id `agent-watch:<name>`: look at the agent every few seconds (a timer, then one activity that
records "unavailable" when it went silent and "available" when it is back), continue-as-new every few hundred
looks; it ends when the agent stopped on purpose (its next start begins a new watch).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.alerts import (
        AGENT_WATCH_WORKFLOW,
        ALERT_DELIVERY_WORKFLOW,
        AgentCheck,
        AgentWatchState,
        AlertDecision,
        AlertDeliveryInput,
        ChannelDelivered,
        ChannelDelivery,
        GaveUp,
    )

# Reading and writing the control plane's own database: quick, retried until the database answers.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# One attempt of one channel (its own connect/read timeouts are shorter): a worker killed mid-attempt is
# noticed by Temporal after this, and the attempt retried elsewhere.
ATTEMPT_TIMEOUT = timedelta(seconds=45)
WATCH_CHECKS_PER_RUN = 500


@workflow.defn(name=ALERT_DELIVERY_WORKFLOW)
class AlertDeliveryWorkflow:
    """Deliver one alert of one policy to each of its channels, at most once each."""

    @workflow.run
    async def run(self, request: AlertDeliveryInput) -> None:
        """Wait for the threshold, decide, deliver."""
        if request.fire_at is not None:
            wait = (request.fire_at - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(wait)
        decision = await workflow.execute_activity(
            "alert_decide",
            request,
            result_type=AlertDecision,
            start_to_close_timeout=STORE_TIMEOUT,
            schedule_to_close_timeout=timedelta(seconds=request.retry_period_s),
            retry_policy=STORE_RETRY,
        )
        if decision.fire and decision.channels:
            await asyncio.gather(*(self._deliver(request, channel) for channel in decision.channels))

    async def _deliver(self, request: AlertDeliveryInput, channel: str) -> None:
        delivery = ChannelDelivery(policy=request.policy, event_id=request.event_id, channel=channel)
        try:
            await workflow.execute_activity(
                "alert_deliver",
                delivery,
                result_type=ChannelDelivered,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=request.retry_period_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=request.retry_max_interval_s),
                ),
            )
        except ActivityError as err:
            cause = err.cause
            error = str(cause) if cause is not None else str(err)
            await workflow.execute_activity(
                "alert_gave_up",
                GaveUp(
                    policy=request.policy,
                    event_id=request.event_id,
                    channel=channel,
                    error=f"retry period of {request.retry_period_s:g} s ended: {error}",
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )


@workflow.defn(name=AGENT_WATCH_WORKFLOW)
class AgentWatchWorkflow:
    """Notice an agent going unavailable and coming back."""

    @workflow.run
    async def run(self, state: AgentWatchState) -> None:
        """Look, sleep, look again; continue-as-new now and then."""
        while True:
            check = await workflow.execute_activity(
                "agent_check",
                state,
                result_type=AgentCheck,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            if check.gone:
                return
            state = state.model_copy(update={"down_event_id": check.down_event_id, "checks": state.checks + 1})
            if state.checks >= WATCH_CHECKS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(state.model_copy(update={"checks": 0}))
            await workflow.sleep(state.check_interval_s)


# Every workflow the control plane's worker runs: one list for it and for `longshoreman replay`.
CONTROL_PLANE_WORKFLOWS: tuple[type, ...] = (AlertDeliveryWorkflow, AgentWatchWorkflow)
