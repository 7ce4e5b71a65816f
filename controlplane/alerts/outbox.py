"""Alert events written in the transaction that saw them happen, so a crash never loses one nor invents one.

Each event's id names the occurrence (`run-failure:<run id>`, `location-down:<name>:<incarnation>:<seq>`...):
seeing it again (a retried report, a second replica) stores nothing new. Committing a transaction that wrote
one wakes this process's dispatcher at once; the dispatcher's sweep picks up what a process that died before
dispatching left behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contracts.alerts import AlertEventKind
from contracts.run_protocol import RunStatus
from contracts.statuses import LocationStatus
from controlplane.database import signal_on_commit
from controlplane.tables import AlertEventRow, utcnow

DOWN_STATUSES = frozenset({LocationStatus.ERROR, LocationStatus.UNHEALTHY})
# Raised (after commit) by a transaction that stored an alert event: the process dispatches at once.
ALERT_EVENTS = "alert_events"


def record(
    session: Session,
    *,
    id: str,
    kind: AlertEventKind,
    subject: str,
    since: datetime,
    location: str | None = None,
    job: str | None = None,
    tags: dict[str, str] | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Store the event unless one with this id exists (also one a concurrent transaction stores)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {
        "id": id[:200],
        "kind": kind.value,
        "subject": subject[:200],
        "location": location,
        "job": job,
        "tags": tags or {},
        "since": since,
        "reason": reason,
        "details": details or {},
        "created_at": utcnow(),
        "dispatched_at": None,
    }
    session.execute(dialect.insert(AlertEventRow).values(**values).on_conflict_do_nothing())
    signal_on_commit(session, ALERT_EVENTS)


# ---- runs (controlplane/run_transitions.py, run_store.py) ----------------------------------------------


def run_queued(session: Session, run_id: str, location: str, job: str, tags: dict[str, str], now: datetime) -> None:
    """A run was stored QUEUED: a `run_queued_long` event whose delivery checks again after the threshold."""
    record(
        session,
        id=f"run-queued:{run_id}",
        kind=AlertEventKind.RUN_QUEUED_LONG,
        subject=run_id,
        since=now,
        location=location,
        job=job,
        tags=tags,
    )


def run_moved(session: Session, row: Any, previous: RunStatus, now: datetime) -> None:
    """A run's status changed from `previous` to `row.status` (the transaction applying it calls this)."""
    status = RunStatus(row.status)
    common = {"subject": row.id, "location": row.location, "job": row.job, "tags": dict(row.tags or {})}
    if status is RunStatus.FAILURE:
        record(
            session,
            id=f"run-failure:{row.id}",
            kind=AlertEventKind.RUN_FAILURE,
            since=now,
            reason=row.reason or "",
            details={"attempt": row.attempt, "previous": previous.value},
            **common,
        )
    elif status is RunStatus.SUCCESS:
        record(session, id=f"run-success:{row.id}", kind=AlertEventKind.RUN_SUCCESS, since=now, **common)
    elif status is RunStatus.STARTED and previous is not RunStatus.STARTED:
        # Once per run (a new attempt starting again is the same run running long).
        record(
            session,
            id=f"run-long:{row.id}",
            kind=AlertEventKind.RUN_LONG_RUNNING,
            since=row.started_at or now,
            **common,
        )


# ---- code locations (controlplane/location_store.py) ---------------------------------------------------


def location_moved(session: Session, row: Any, previous: LocationStatus, seq: int, now: datetime) -> None:
    """A location's stored status changed: a down episode opens (ERROR/UNHEALTHY) or closes (LOADED)."""
    status = LocationStatus(row.status)
    was_down, is_down = previous in DOWN_STATUSES, status in DOWN_STATUSES
    if is_down and not was_down:
        record(
            session,
            id=f"location-down:{row.name}:{row.incarnation}:{seq}",
            kind=AlertEventKind.LOCATION_UNHEALTHY,
            subject=row.name,
            location=row.name,
            since=now,
            reason=row.message or status.value,
            details={"status": status.value, "incarnation": row.incarnation, "generation": row.generation},
        )
    elif was_down and status is LocationStatus.LOADED:
        episode = open_episode(session, AlertEventKind.LOCATION_UNHEALTHY, row.name, f"{row.name}:{row.incarnation}:")
        if episode is not None:
            record(
                session,
                id=recovery_id(episode),
                kind=AlertEventKind.LOCATION_RECOVERED,
                subject=row.name,
                location=row.name,
                since=now,
                details={"down_event": episode, "generation": row.generation},
            )


def recovery_id(down_event_id: str) -> str:
    """The id of the event that closes the down episode `down_event_id`."""
    return f"recovered:{down_event_id}"


def open_episode(session: Session, kind: AlertEventKind, subject: str, id_infix: str = "") -> str | None:
    """The latest `kind` event of `subject` (whose id holds `id_infix`) with no recovery yet, or None."""
    query = (
        select(AlertEventRow.id)
        .where(AlertEventRow.kind == kind.value, AlertEventRow.subject == subject)
        .order_by(AlertEventRow.created_at.desc())
        .limit(1)
    )
    latest = session.scalars(query).first()
    if latest is None or id_infix not in latest:
        return None
    closed = session.get(AlertEventRow, recovery_id(latest))
    return None if closed is not None else latest


# ---- schedules and sensors (controlplane/automation_store.py) --------------------------------------------


def tick_failed(
    session: Session, location: str, automation: str, kind: str, tick_id: str, reason: str, now: datetime
) -> None:
    """A tick failed after one that did not (or the first tick failed): once per change, not per failed tick."""
    record(
        session,
        id=f"tick-failure:{tick_id}",
        kind=AlertEventKind.TICK_FAILURE,
        subject=f"{location}/{automation}",
        location=location,
        since=now,
        reason=reason,
        details={"automation": automation, "automation_kind": kind, "tick_id": tick_id},
    )
