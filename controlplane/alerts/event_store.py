"""Alert events (the outbox) and delivery records: what is pending, what fired, what was delivered, history."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from contracts.alerts import (
    RECOVERY_OF,
    AlertEvent,
    AlertEventKind,
    DeliveryList,
    DeliveryOutcome,
    DeliveryRecord,
)
from contracts.run_protocol import RunStatus
from controlplane.alerts import outbox
from controlplane.database import Database
from controlplane.run_queue import queue_spots
from controlplane.tables import AgentRow, AlertDeliveryRow, AlertEventRow, LocationRow, RunRow, utcnow

MAX_ERROR_CHARS = 2000
# An agent not heard of for this long is gone (its watch ends), as in the agent list.
AGENT_FORGOTTEN_AFTER = timedelta(days=1)


def event_view(row: AlertEventRow) -> AlertEvent:
    """The contract view of a stored event."""
    return AlertEvent(
        id=row.id,
        kind=AlertEventKind(row.kind),
        subject=row.subject,
        location=row.location,
        job=row.job,
        tags=row.tags or {},
        since=row.since,
        reason=row.reason or "",
        details=row.details or {},
        created_at=row.created_at,
    )


class EventStore:
    """Reads and writes of alert events and delivery records; one transaction per method."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- the outbox -----------------------------------------------------------------------------------

    def add(self, **event: object) -> None:
        """Store an event outside any other write (a test alert, an agent watch's finding)."""
        with self._db.write() as session:
            outbox.record(session, **event)  # type: ignore[arg-type]

    def pending(self, older_than_s: float = 0.0, limit: int = 200) -> builtins.list[AlertEvent]:
        """Events whose deliveries were not started yet, oldest first."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        query = (
            select(AlertEventRow)
            .where(AlertEventRow.dispatched_at.is_(None), AlertEventRow.created_at <= cutoff)
            .order_by(AlertEventRow.created_at)
            .limit(limit)
        )
        with self._db.read() as session:
            return [event_view(row) for row in session.scalars(query)]

    def mark_dispatched(self, event_ids: builtins.list[str]) -> None:
        """Their deliveries are started: no sweep looks at them again."""
        if not event_ids:
            return
        with self._db.write() as session:
            session.execute(
                update(AlertEventRow)
                .where(AlertEventRow.id.in_(event_ids), AlertEventRow.dispatched_at.is_(None))
                .values(dispatched_at=utcnow())
            )

    def prune(self, days: float) -> None:
        """Forget delivery records, and events dispatched, more than `days` ago."""
        cutoff = utcnow() - timedelta(days=days)
        with self._db.write() as session:
            session.execute(delete(AlertDeliveryRow).where(AlertDeliveryRow.time < cutoff))
            session.execute(
                delete(AlertEventRow).where(
                    AlertEventRow.dispatched_at.is_not(None), AlertEventRow.dispatched_at < cutoff
                )
            )

    def get(self, event_id: str) -> AlertEvent | None:
        """The event, or None."""
        with self._db.read() as session:
            row = session.get(AlertEventRow, event_id)
            return event_view(row) if row is not None else None

    # ---- deliveries -----------------------------------------------------------------------------------

    def record(
        self, policy: str, event_id: str, channel: str, attempt: int, outcome: DeliveryOutcome, error: str = ""
    ) -> None:
        """Record one attempt or decision."""
        with self._db.write() as session:
            session.add(
                AlertDeliveryRow(
                    policy=policy,
                    event_id=event_id,
                    channel=channel,
                    attempt=attempt,
                    time=utcnow(),
                    outcome=outcome.value,
                    error=error[:MAX_ERROR_CHARS],
                )
            )

    def has(self, policy: str, event_id: str, outcome: DeliveryOutcome, channel: str | None = None) -> bool:
        """True if a record of `outcome` exists for (policy, event[, channel])."""
        query = select(AlertDeliveryRow.id).where(
            AlertDeliveryRow.policy == policy,
            AlertDeliveryRow.event_id == event_id,
            AlertDeliveryRow.outcome == outcome.value,
        )
        if channel is not None:
            query = query.where(AlertDeliveryRow.channel == channel)
        with self._db.read() as session:
            return session.scalars(query.limit(1)).first() is not None

    def history(
        self, *, policy: str | None = None, event_id: str | None = None, subject: str | None = None, limit: int = 100
    ) -> DeliveryList:
        """Delivery records matching every given filter, newest first."""
        query = select(AlertDeliveryRow, AlertEventRow).join(
            AlertEventRow, AlertEventRow.id == AlertDeliveryRow.event_id
        )
        if policy is not None:
            query = query.where(AlertDeliveryRow.policy == policy)
        if event_id is not None:
            query = query.where(AlertDeliveryRow.event_id == event_id)
        if subject is not None:
            query = query.where(AlertEventRow.subject == subject)
        query = query.order_by(AlertDeliveryRow.id.desc()).limit(limit)
        with self._db.read() as session:
            return DeliveryList(
                deliveries=[
                    DeliveryRecord(
                        id=record.id,
                        policy=record.policy,
                        event_id=record.event_id,
                        event_kind=AlertEventKind(event.kind),
                        subject=event.subject,
                        channel=record.channel,
                        attempt=record.attempt,
                        time=record.time,
                        outcome=DeliveryOutcome(record.outcome),
                        error=record.error or "",
                    )
                    for record, event in session.execute(query).all()
                ]
            )

    # ---- conditions -----------------------------------------------------------------------------------

    def still_holds(self, event: AlertEvent, policy: str) -> str | None:
        """Why the alert must not go out now (its condition ended, the "down" alert never fired), or None."""
        with self._db.read() as session:
            if event.kind in (AlertEventKind.RUN_LONG_RUNNING, AlertEventKind.RUN_QUEUED_LONG):
                run = session.get(RunRow, event.subject)
                if run is None:
                    return "the run is gone"
                status = RunStatus(run.status)
                if event.kind is AlertEventKind.RUN_QUEUED_LONG and status is not RunStatus.QUEUED:
                    return f"the run left the queue ({status.value})"
                if status.is_terminal:
                    return f"the run finished ({status.value})"
            elif event.kind in (AlertEventKind.LOCATION_UNHEALTHY, AlertEventKind.AGENT_UNAVAILABLE):
                if session.get(AlertEventRow, outbox.recovery_id(event.id)) is not None:
                    return "it recovered before the threshold"
                if event.kind is AlertEventKind.LOCATION_UNHEALTHY:
                    location = session.get(LocationRow, event.subject)
                    if location is None or location.status not in outbox.DOWN_STATUSES:
                        return "the location is no longer down"
            elif event.kind in RECOVERY_OF:
                down = str(event.details.get("down_event", ""))
                fired = select(AlertDeliveryRow.id).where(
                    AlertDeliveryRow.policy == policy,
                    AlertDeliveryRow.event_id == down,
                    AlertDeliveryRow.outcome == DeliveryOutcome.FIRED.value,
                )
                if session.scalars(fired.limit(1)).first() is None:
                    return "no alert of this policy said it was down"
        return None

    def why_queued(self, run_id: str) -> str:
        """What a QUEUED run waits for: a full limit of the run queue (and its place), or an agent."""
        with self._db.read() as session:
            run = session.get(RunRow, run_id)
            if run is None or run.status != RunStatus.QUEUED.value:
                return ""
            if run.dequeued_at is None:
                spot = queue_spots(session).get(run_id)
                if spot is not None:
                    return f"{spot.message} (place {spot.position} in the run queue)"
            return run.message or f"no agent has taken it from task queue {run.queue} yet"

    # ---- agents (the agent watch workflow) -----------------------------------------------------------

    def agent_instances(self, name: str) -> builtins.list[AgentRow]:
        """The instances of agent `name` heard of within a day."""
        since = utcnow() - AGENT_FORGOTTEN_AFTER
        with self._db.read() as session:
            query = select(AgentRow).where(AgentRow.name == name, AgentRow.last_seen >= since)
            return list(session.scalars(query))

    def agent_episode_opened(self, name: str, queue: str, key: datetime, since: datetime, reason: str) -> str:
        """Record that agent `name` went unavailable at `since`; the episode's event id (named by `key`, a time
        the same look finds again if it is retried)."""
        event_id = f"agent-down:{name}:{key.isoformat()}"
        self.add(
            id=event_id,
            kind=AlertEventKind.AGENT_UNAVAILABLE,
            subject=name,
            since=since,
            reason=reason,
            details={"task_queue": queue},
        )
        return event_id

    def agent_episode_closed(self, name: str, down_event_id: str) -> None:
        """Record that agent `name` is back after the episode `down_event_id`."""
        self.add(
            id=outbox.recovery_id(down_event_id),
            kind=AlertEventKind.AGENT_AVAILABLE,
            subject=name,
            since=utcnow(),
            details={"down_event": down_event_id},
        )
