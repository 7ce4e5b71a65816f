"""Storage of code locations: creation claims, spec changes, stop marks and agent reports (ordered by seq)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.api import LocationEvent, LocationEventList, LocationList, LocationView
from contracts.locations import Definitions, LocationReport, LocationSpec
from contracts.statuses import LocationStatus
from contracts.temporal import location_workflow_id
from controlplane.alerts import outbox
from controlplane.database import Database, lock_row
from controlplane.errors import Conflict, Invalid, NotFound
from controlplane.links import TemporalLinks, workflow_url
from controlplane.scopes import ANY_QUEUE, QueueScope
from controlplane.secret_env import SecretEnvSealer
from controlplane.tables import LocationEventRow, LocationRow, utcnow

DEFAULT_QUEUE = LocationSpec.model_fields["agent_queue"].default
# Once a stop was requested, only these reports may still change the stored status.
_STATUSES_WHILE_STOPPING = frozenset({LocationStatus.STOPPING, LocationStatus.STOPPED, LocationStatus.ERROR})


def location_view(row: LocationRow, links: TemporalLinks | None = None) -> LocationView:
    """The API view of a stored location (its secret_env values masked)."""
    return LocationView(
        name=row.name,
        spec=SecretEnvSealer.mask(row.spec),
        status=LocationStatus(row.status),
        generation=row.generation,
        message=_with_note(row.agent_note, row.message),
        definitions=Definitions.model_validate(row.definitions) if row.definitions else Definitions(),
        server=row.server,
        workflow_id=row.workflow_id,
        temporal_url=workflow_url(links, row.workflow_id),
        updated_at=row.updated_at,
    )


def _with_note(note: str | None, message: str) -> str:
    if not note:
        return message
    return f"{note} (last report: {message})" if message else note


@dataclass(frozen=True)
class Claim:
    """A location row written for a new workflow, and what to restore if that workflow cannot be started."""

    view: LocationView
    previous: dict[str, Any] | None
    replaced_stopped: bool


_RESTORABLE = ("spec", "status", "generation", "message", "definitions", "server", "report_seq", "updated_at")


class LocationStore:
    """Every read and write of the locations table; one transaction per method."""

    def __init__(self, db: Database, sealer: SecretEnvSealer, links: TemporalLinks | None = None) -> None:
        self._db = db
        self._sealer = sealer
        self._links = links

    def spec(self, name: str) -> LocationSpec | None:
        """The stored spec of `name` with its secret_env readable (to hand to Temporal), or None."""
        with self._db.read() as session:
            row = session.get(LocationRow, name)
            return self._sealer.open(row.spec) if row is not None else None

    def get(self, name: str) -> LocationView | None:
        """The location called `name`, or None."""
        with self._db.read() as session:
            row = session.get(LocationRow, name)
            return location_view(row, self._links) if row else None

    def require(self, name: str) -> LocationView:
        """The location called `name`; NotFound otherwise."""
        view = self.get(name)
        if view is None:
            raise NotFound(f"code location '{name}' does not exist")
        return view

    def list(self) -> LocationList:
        """All locations by name."""
        with self._db.read() as session:
            rows = session.scalars(select(LocationRow).order_by(LocationRow.name)).all()
            return LocationList(locations=[location_view(r, self._links) for r in rows])

    def claim(self, spec: LocationSpec) -> Claim:
        """Write a fresh STARTING row for `spec` (report seq back to 0); Conflict if it exists and is not STOPPED."""
        try:
            return self._claim(spec)
        except IntegrityError:
            # PostgreSQL: another replica inserted the row after our look (SQLite's write lock serialises them).
            raise Conflict(f"code location '{spec.name}' already exists") from None

    def _claim(self, spec: LocationSpec) -> Claim:
        now = utcnow()
        with self._db.write() as session:
            row = lock_row(session, LocationRow, spec.name)
            if row is None:
                row = LocationRow(
                    name=spec.name,
                    workflow_id=location_workflow_id(spec.name),
                    created_at=now,
                )
                session.add(row)
                previous = None
            elif row.status == LocationStatus.STOPPED:
                previous = {key: getattr(row, key) for key in _RESTORABLE}
            else:
                raise Conflict(f"code location '{spec.name}' already exists (status {row.status})")
            row.spec = self._sealer.seal(spec)
            row.incarnation = (row.incarnation or 0) + 1
            row.status = LocationStatus.STARTING
            row.generation = 1
            row.message = ""
            row.definitions = None
            row.server = None
            row.report_seq = 0
            row.updated_at = now
            session.flush()
            return Claim(view=location_view(row, self._links), previous=previous, replaced_stopped=previous is not None)

    def release(self, name: str, claim: Claim) -> None:
        """Undo `claim` after its workflow could not be started."""
        with self._db.write() as session:
            row = lock_row(session, LocationRow, name)
            if row is None:
                return
            if claim.previous is None:
                session.delete(row)
            else:
                for key, value in claim.previous.items():
                    setattr(row, key, value)

    def take_redeploy_lease(self, name: str, lease: str, ttl_s: float) -> bool:
        """Hold the location's redeploy lease (`lease`: the holder's random id) unless another holder has it."""
        now = utcnow()
        with self._db.write() as session:
            self._row(session, name)
            taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(LocationRow)
                .where(
                    LocationRow.name == name,
                    or_(LocationRow.redeploy_lease.is_(None), LocationRow.redeploy_lease_until <= now),
                )
                .values(redeploy_lease=lease, redeploy_lease_until=now + timedelta(seconds=ttl_s))
            )
            return bool(taken.rowcount)

    def set_spec(self, spec: LocationSpec, lease: str) -> LocationView | None:
        """Record the spec a redeploy switched to (the workflow accepted it) and give the lease back; None, and
        nothing written, if the lease was lost meanwhile (another redeploy may have gone through since)."""
        with self._db.write() as session:
            row = self._row(session, spec.name)
            if row.redeploy_lease != lease:
                return None
            row.spec = self._sealer.seal(spec)
            row.updated_at = utcnow()
            row.redeploy_lease, row.redeploy_lease_until = None, None
            session.flush()
            return location_view(row, self._links)

    def release_redeploy_lease(self, name: str, lease: str) -> None:
        """Give the lease back after a redeploy that failed (idempotent)."""
        with self._db.write() as session:
            session.execute(
                update(LocationRow)
                .where(LocationRow.name == name, LocationRow.redeploy_lease == lease)
                .values(redeploy_lease=None, redeploy_lease_until=None)
            )

    def mark(self, name: str, status: LocationStatus, message: str = "") -> LocationView:
        """Set the status the control plane itself decided (STOPPING on remove, STOPPED if nothing runs)."""
        with self._db.write() as session:
            row = self._row(session, name)
            row.status = status
            if message:
                row.message = message
            row.updated_at = utcnow()
            session.flush()
            return location_view(row, self._links)

    def apply_report(self, name: str, report: LocationReport, scope: QueueScope = ANY_QUEUE) -> bool:
        """Store an agent report if it is newer (seq) than the last one applied; True if applied.

        Forbidden unless the reporting agent's token serves the location's queue."""
        if report.name != name:
            raise Invalid(f"report is about location '{report.name}' but was sent for '{name}'")
        with self._db.write() as session:
            row = self._row(session, name)
            scope.check(row.spec.get("agent_queue", DEFAULT_QUEUE), f"code location '{name}'")
            late = report.seq <= row.report_seq
            # A supervision report racing the stop signal must not bring a location being removed back to life.
            racing_stop = row.status == LocationStatus.STOPPING and report.status not in _STATUSES_WHILE_STOPPING
            if late or racing_stop:
                # Not the current status any more, but it happened: it takes its place in the history.
                self._record_event(session, row, report, utcnow())
                return False
            row.report_seq = report.seq
            previous = LocationStatus(row.status)
            row.status = report.status
            row.generation = report.generation
            row.message = report.message
            row.server = report.server
            if report.definitions is not None:
                row.definitions = report.definitions.model_dump(mode="json")
            if report.spec is not None:
                row.spec = self._sealer.seal(report.spec)
            row.updated_at = utcnow()
            self._record_event(session, row, report, row.updated_at)
            if previous != report.status:
                outbox.location_moved(session, row, previous, report.seq, row.updated_at)
            return True

    @staticmethod
    def _record_event(session: Session, row: LocationRow, report: LocationReport, now: datetime) -> None:
        """Add the report to the location's history, once (a retried report is the same event)."""
        known = select(LocationEventRow.id).where(
            LocationEventRow.location == row.name,
            LocationEventRow.incarnation == row.incarnation,
            LocationEventRow.seq == report.seq,
        )
        if session.scalars(known).first() is not None:
            return
        session.add(
            LocationEventRow(
                location=row.name,
                time=now,
                status=report.status,
                generation=report.generation,
                server=report.server,
                message=report.message,
                incarnation=row.incarnation,
                seq=report.seq,
            )
        )

    def agent_notes(self) -> dict[str, tuple[str, str]]:
        """Per location not stopped: (its agent queue, the note the control plane shows about its agent)."""
        with self._db.read() as session:
            rows = session.execute(
                select(LocationRow.name, LocationRow.spec, LocationRow.agent_note).where(
                    LocationRow.status != LocationStatus.STOPPED.value
                )
            ).all()
        return {name: (spec.get("agent_queue", DEFAULT_QUEUE), note or "") for name, spec, note in rows}

    def set_agent_note(self, name: str, note: str) -> None:
        """Say (or stop saying) that no live agent serves the location's queue."""
        with self._db.write() as session:
            session.execute(update(LocationRow).where(LocationRow.name == name).values(agent_note=note or None))

    def events(self, name: str, limit: int = 1000) -> LocationEventList:
        """The location's last `limit` status changes, oldest first."""
        with self._db.read() as session:
            if session.get(LocationRow, name) is None:
                raise NotFound(f"code location '{name}' does not exist")
            # In each (re)creation's order of reports: a late report sits where it happened, not where it arrived.
            query = (
                select(LocationEventRow)
                .where(LocationEventRow.location == name)
                .order_by(
                    func.coalesce(LocationEventRow.incarnation, 0).desc(),
                    func.coalesce(LocationEventRow.seq, 0).desc(),
                    LocationEventRow.id.desc(),
                )
                .limit(limit)
            )
            rows = list(reversed(session.scalars(query).all()))
            return LocationEventList(
                events=[
                    LocationEvent(
                        time=r.time,
                        status=LocationStatus(r.status),
                        generation=r.generation,
                        server=r.server,
                        message=r.message,
                    )
                    for r in rows
                ]
            )

    @staticmethod
    def _row(session: Any, name: str) -> LocationRow:
        """The location's row, locked for this write transaction (every read-then-write of a location takes it)."""
        row = lock_row(session, LocationRow, name)
        if row is None:
            raise NotFound(f"code location '{name}' does not exist")
        return row
