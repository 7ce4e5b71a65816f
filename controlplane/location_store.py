"""Storage of code locations: creation claims, spec changes, stop marks and agent reports (ordered by seq)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from contracts.api import LocationEvent, LocationEventList, LocationList, LocationView
from contracts.locations import Definitions, LocationReport, LocationSpec
from contracts.statuses import LocationStatus
from contracts.temporal import location_workflow_id
from controlplane.database import Database
from controlplane.errors import Conflict, Invalid, NotFound
from controlplane.links import TemporalLinks, workflow_url
from controlplane.tables import LocationEventRow, LocationRow, utcnow

# Once a stop was requested, only these reports may still change the stored status.
_STATUSES_WHILE_STOPPING = frozenset({LocationStatus.STOPPING, LocationStatus.STOPPED, LocationStatus.ERROR})


def location_view(row: LocationRow, links: TemporalLinks | None = None) -> LocationView:
    """The API view of a stored location."""
    return LocationView(
        name=row.name,
        spec=LocationSpec.model_validate(row.spec),
        status=LocationStatus(row.status),
        generation=row.generation,
        message=row.message,
        definitions=Definitions.model_validate(row.definitions) if row.definitions else Definitions(),
        server=row.server,
        workflow_id=row.workflow_id,
        temporal_url=workflow_url(links, row.workflow_id),
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class Claim:
    """A location row written for a new workflow, and what to restore if that workflow cannot be started."""

    view: LocationView
    previous: dict[str, Any] | None
    replaced_stopped: bool


_RESTORABLE = ("spec", "status", "generation", "message", "definitions", "server", "report_seq", "updated_at")


class LocationStore:
    """Every read and write of the locations table; one transaction per method."""

    def __init__(self, db: Database, links: TemporalLinks | None = None) -> None:
        self._db = db
        self._links = links

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
        now = utcnow()
        with self._db.write() as session:
            row = session.get(LocationRow, spec.name)
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
            row.spec = spec.model_dump(mode="json")
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
            row = session.get(LocationRow, name)
            if row is None:
                return
            if claim.previous is None:
                session.delete(row)
            else:
                for key, value in claim.previous.items():
                    setattr(row, key, value)

    def set_spec(self, spec: LocationSpec) -> LocationView:
        """Record the spec a redeploy switched to (the workflow accepted it)."""
        with self._db.write() as session:
            row = self._row(session, spec.name)
            row.spec = spec.model_dump(mode="json")
            row.updated_at = utcnow()
            session.flush()
            return location_view(row, self._links)

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

    def apply_report(self, name: str, report: LocationReport) -> bool:
        """Store an agent report if it is newer (seq) than the last one applied; True if applied."""
        if report.name != name:
            raise Invalid(f"report is about location '{report.name}' but was sent for '{name}'")
        with self._db.write() as session:
            row = self._row(session, name)
            if report.seq <= row.report_seq:
                return False
            # A supervision report racing the stop signal must not bring a location being removed back to life.
            if row.status == LocationStatus.STOPPING and report.status not in _STATUSES_WHILE_STOPPING:
                return False
            row.report_seq = report.seq
            row.status = report.status
            row.generation = report.generation
            row.message = report.message
            row.server = report.server
            if report.definitions is not None:
                row.definitions = report.definitions.model_dump(mode="json")
            if report.spec is not None:
                row.spec = report.spec.model_dump(mode="json")
            row.updated_at = utcnow()
            session.add(
                LocationEventRow(
                    location=name,
                    time=row.updated_at,
                    status=report.status,
                    generation=report.generation,
                    server=report.server,
                    message=report.message,
                )
            )
            return True

    def events(self, name: str, limit: int = 1000) -> LocationEventList:
        """The location's last `limit` status changes, oldest first."""
        with self._db.read() as session:
            self._row(session, name)
            query = (
                select(LocationEventRow)
                .where(LocationEventRow.location == name)
                .order_by(LocationEventRow.id.desc())
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
        row: LocationRow | None = session.get(LocationRow, name)
        if row is None:
            raise NotFound(f"code location '{name}' does not exist")
        return row
