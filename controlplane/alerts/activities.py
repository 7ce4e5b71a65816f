"""The side effects of the alert workflows, run by the control plane's own Temporal worker.

Exactly once per (policy, event, channel): a channel's delivery is recorded `delivered` as soon as the channel
took it, and every attempt first looks for that record, so an attempt retried after the worker died (or after
Temporal lost the activity's completion) sends nothing again. What remains is the instant between the channel
taking the message and the record being written: there the same delivery id (webhook header, email Message-ID)
lets a receiver drop the copy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from contracts.alerts import (
    SECRET_FIELDS,
    AgentCheck,
    AgentWatchState,
    AlertDecision,
    AlertDeliveryInput,
    AlertEventKind,
    ChannelDelivered,
    ChannelDelivery,
    DeliveryOutcome,
    GaveUp,
)
from controlplane.alerts import channels
from controlplane.alerts.event_store import EventStore
from controlplane.alerts.matching import matches
from controlplane.alerts.message import AlertLinks, render, scrub
from controlplane.alerts.policy_store import PolicyStore
from controlplane.location_store import LocationStore
from controlplane.temporal_gateway import TemporalGateway

# The channel "name" of records about the (policy, event) as a whole: fired, skipped.
WHOLE = "*"
# An agent that just started may not have polled yet (as in the agent list).
NOT_POLLING_AFTER = timedelta(seconds=10)


def delivery_id(policy: str, event_id: str) -> str:
    """The id receivers see on every attempt of one alert."""
    return f"{policy}:{event_id}"


class AlertActivities:
    """Decide, deliver, record; and look at agents for the agent watch."""

    def __init__(
        self,
        policies: PolicyStore,
        events: EventStore,
        locations: LocationStore,
        temporal: TemporalGateway,
        links: AlertLinks,
        *,
        agent_timeout_s: float,
        channel_timeout_s: float,
    ) -> None:
        self._policies = policies
        self._events = events
        self._locations = locations
        self._temporal = temporal
        self._links = links
        self._agent_timeout = timedelta(seconds=agent_timeout_s)
        self._channel_timeout_s = channel_timeout_s

    @activity.defn(name="alert_decide")
    async def decide(self, request: AlertDeliveryInput) -> AlertDecision:
        """Does the alert go out now (its condition still holds, the policy still wants it), to which channels."""
        return await asyncio.to_thread(self._decide, request)

    def _decide(self, request: AlertDeliveryInput) -> AlertDecision:
        event = self._events.get(request.event_id)
        policy = self._policies.opened(request.policy)
        why_not = ""
        if event is None:
            why_not = "the event is gone"
        elif policy is None:
            why_not = "the policy was removed"
        elif event.kind is not AlertEventKind.TEST and not matches(policy, event):
            why_not = "the policy no longer matches the event"
        else:
            why_not = self._events.still_holds(event, policy.name) or ""
        if why_not or policy is None:
            if not self._events.has(request.policy, request.event_id, DeliveryOutcome.SKIPPED):
                self._events.record(request.policy, request.event_id, WHOLE, 0, DeliveryOutcome.SKIPPED, why_not)
            return AlertDecision(fire=False, why_not=why_not)
        if not self._events.has(policy.name, request.event_id, DeliveryOutcome.FIRED):
            note = "" if policy.channels else "the policy has no channel"
            self._events.record(policy.name, request.event_id, WHOLE, 0, DeliveryOutcome.FIRED, note)
        return AlertDecision(fire=True, channels=[channel.name for channel in policy.channels])

    @activity.defn(name="alert_deliver")
    async def deliver(self, request: ChannelDelivery) -> ChannelDelivered:
        """Send the alert on one channel, unless an earlier attempt did; every attempt is recorded."""
        key = (request.policy, request.event_id)
        if await asyncio.to_thread(self._events.has, *key, DeliveryOutcome.DELIVERED, request.channel):
            return ChannelDelivered(already_sent=True)
        policy = await asyncio.to_thread(self._policies.opened, request.policy)
        event = await asyncio.to_thread(self._events.get, request.event_id)
        channel = next((c for c in policy.channels if c.name == request.channel), None) if policy else None
        if policy is None or event is None or channel is None:
            await asyncio.to_thread(
                self._events.record, *key, request.channel, 0, DeliveryOutcome.SKIPPED, "the channel was removed"
            )
            return ChannelDelivered()
        secrets = [str(getattr(channel, field) or "") for field in SECRET_FIELDS[channel.kind]]
        if event.location is not None:
            spec = await asyncio.to_thread(self._locations.spec, event.location)
            if spec is not None:
                secrets += list(spec.secret_env.values())
        if event.kind is AlertEventKind.RUN_QUEUED_LONG and not event.reason:
            event = event.model_copy(update={"reason": await asyncio.to_thread(self._events.why_queued, event.subject)})
        threshold = policy.thresholds.delay_of(event.kind)
        if threshold:
            event = event.model_copy(update={"details": {**event.details, "threshold_s": threshold}})
        message = render(event, policy.name, self._links, secrets)
        attempt = activity.info().attempt
        try:
            await channels.send(channel, message, delivery_id(*key), self._channel_timeout_s)
        except Exception as err:  # every failure is recorded, then retried by Temporal with backoff
            error = scrub(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__, secrets)
            await asyncio.to_thread(self._events.record, *key, request.channel, attempt, DeliveryOutcome.FAILED, error)
            # Benign: a channel that is down is expected and recorded above; the SDK then logs no traceback per try.
            raise ApplicationError(
                f"channel '{request.channel}': {error}", type="ChannelFailed", category=ApplicationErrorCategory.BENIGN
            ) from None
        await asyncio.to_thread(self._events.record, *key, request.channel, attempt, DeliveryOutcome.DELIVERED)
        return ChannelDelivered()

    @activity.defn(name="alert_gave_up")
    async def gave_up(self, request: GaveUp) -> None:
        """Record that a channel's retry period ended without a delivery."""
        await asyncio.to_thread(
            self._events.record,
            request.policy,
            request.event_id,
            request.channel,
            0,
            DeliveryOutcome.GAVE_UP,
            request.error,
        )

    @activity.defn(name="agent_check")
    async def check_agent(self, state: AgentWatchState) -> AgentCheck:
        """Look at agent `state.agent`: open its unavailable episode, close it when it is back."""
        rows = await asyncio.to_thread(self._events.agent_instances, state.agent)
        if not rows:
            # Not heard of for a day: forgotten, as in the agent list; its next start begins a new watch.
            return AgentCheck(down_event_id=state.down_event_id, gone=True)
        now = datetime.now(UTC)
        live = [row for row in rows if row.stopped_at is None and row.last_seen >= now - self._agent_timeout]
        latest = max(rows, key=lambda row: row.last_seen)
        if not live:
            if state.down_event_id is not None:
                return AgentCheck(down_event_id=state.down_event_id, gone=False)
            if latest.stopped_at is not None:
                return AgentCheck(down_event_id=None, gone=True)  # stopped on purpose: nothing to alert on
            reason = f"no heartbeat since {latest.last_seen.isoformat(timespec='seconds')} (queue {latest.task_queue})"
            opened = await asyncio.to_thread(
                self._events.agent_episode_opened,
                state.agent,
                latest.task_queue,
                latest.last_seen,
                latest.last_seen,
                reason,
            )
            return AgentCheck(down_event_id=opened, gone=False)
        newest = max(live, key=lambda row: row.started_at)
        polling = True
        if newest.started_at < now - NOT_POLLING_AFTER:
            try:
                polling = await self._temporal.queue_has_pollers(newest.task_queue)
            except Exception:  # Temporal unreachable: say nothing about polling this time
                polling = True
        if not polling:
            if state.down_event_id is not None:
                return AgentCheck(down_event_id=state.down_event_id, gone=False)
            reason = f"it heartbeats but does not poll its Temporal task queue {newest.task_queue}"
            opened = await asyncio.to_thread(
                self._events.agent_episode_opened, state.agent, newest.task_queue, newest.started_at, now, reason
            )
            return AgentCheck(down_event_id=opened, gone=False)
        if state.down_event_id is not None:
            await asyncio.to_thread(self._events.agent_episode_closed, state.agent, state.down_event_id)
        return AgentCheck(down_event_id=None, gone=False)
