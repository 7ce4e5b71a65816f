"""Storage of automations (the schedules and sensors of every location), their ticks and backfills.

The rows follow the locations' definitions (`follow`, called whenever an agent reports a location, and for
every location now and then): a new schedule or sensor gets a row with its definition's default status, a
changed one keeps the status a user set, a removed one (or every one of a location going away) is marked for
removal. The sync (controlplane/automation_sync.py) makes Temporal match the rows
and marks each row synced with a digest of what it applied, so only changes cost Temporal calls.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contracts.automation_flows import temporal_id
from contracts.automations import (
    AutomationKind,
    AutomationList,
    AutomationStatus,
    AutomationView,
    BackfillList,
    BackfillView,
    TickList,
    TickOutcome,
    TickReport,
    TickView,
)
from contracts.locations import Definitions
from contracts.statuses import LocationStatus
from controlplane.alerts import outbox
from controlplane.database import Database
from controlplane.errors import NotFound
from controlplane.ids import new_run_id
from controlplane.location_store import DEFAULT_QUEUE
from controlplane.tables import AutomationRow, BackfillRow, LocationRow, TickRow, utcnow

# Ticks kept per automation (the oldest go): the store stays bounded however long an automation runs.
KEPT_TICKS = 1000


@dataclass(frozen=True)
class Desired:
    """What Temporal should hold for one automation (the sync's input)."""

    location: str
    name: str
    kind: AutomationKind
    queue: str
    definition: dict[str, Any]
    status: AutomationStatus
    removed: bool
    cursor: str | None
    digest: str

    @property
    def temporal_id(self) -> str:
        """The Temporal Schedule's id (schedules) or workflow id (sensors)."""
        return temporal_id(self.kind, self.location, self.name)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class AutomationStore:
    """Every read and write of automations, ticks and backfills; one transaction per method."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- following the definitions -------------------------------------------------------------

    def follow(self, location: str) -> bool:
        """Make the rows of `location` match its stored definitions; True if anything changed.

        A location not loaded yet keeps its rows; one going away (STOPPING, STOPPED) has all of them removed."""
        with self._db.write() as session:
            found = session.get(LocationRow, location)
            if found is None:
                return False
            if found.status in (LocationStatus.STOPPING, LocationStatus.STOPPED):
                definitions = Definitions()
            elif found.definitions is None:
                return False
            else:
                definitions = Definitions.model_validate(found.definitions)
            return self._replace(session, location, definitions)

    def locations(self) -> builtins.list[str]:
        """Every location's name (the periodic sync follows each)."""
        with self._db.read() as session:
            return list(session.scalars(select(LocationRow.name)))

    @staticmethod
    def _replace(session: Session, location: str, definitions: Definitions) -> bool:
        wanted: dict[str, tuple[AutomationKind, dict[str, Any]]] = {}
        for schedule in definitions.schedules:
            wanted[schedule.name] = (AutomationKind.SCHEDULE, schedule.model_dump(mode="json"))
        for sensor in definitions.sensors:
            wanted.setdefault(sensor.name, (AutomationKind.SENSOR, sensor.model_dump(mode="json")))
        now, changed = utcnow(), False
        query = select(AutomationRow).where(AutomationRow.location == location)
        rows = {row.name: row for row in session.scalars(query)}
        for name, row in rows.items():
            if not row.removed and (name not in wanted or wanted[name][0].value != row.kind):
                row.removed, row.updated_at, changed = True, now, True
        for name, (kind, definition) in wanted.items():
            existing = rows.get(name)
            if existing is not None and existing.kind != kind.value:
                continue  # a schedule became a sensor (or back): the old one goes first, the new one comes next time
            default_status = str(definition.get("default_status", AutomationStatus.RUNNING.value))
            if existing is None:
                row = AutomationRow(
                    location=location, name=name, kind=kind.value, status=default_status, status_set=False
                )
                session.add(row)
            elif existing.definition == definition and not existing.removed:
                continue
            else:
                row = existing
            row.job, row.definition = str(definition.get("job", "")), definition
            row.error, row.removed, row.updated_at, changed = definition.get("error") or "", False, now, True
            if not row.status_set:
                row.status = default_status
        return changed

    def set_status(self, location: str, name: str, status: AutomationStatus) -> AutomationView:
        """Start or stop an automation (kept across redeploys and restarts)."""
        with self._db.write() as session:
            row = self._row(session, location, name)
            row.status, row.status_set, row.updated_at = status.value, True, utcnow()
            session.flush()
            return self._view(session, row)

    # ---- what the sync does ------------------------------------------------------------------

    def pending(self, location: str | None = None, everything: bool = False) -> builtins.list[Desired]:
        """Automations whose Temporal side may not match (all of them with `everything`)."""
        with self._db.read() as session:
            query = select(AutomationRow, LocationRow.spec, LocationRow.status).join(
                LocationRow, LocationRow.name == AutomationRow.location
            )
            if location is not None:
                query = query.where(AutomationRow.location == location)
            desired = []
            for row, spec, location_status in session.execute(query).all():
                gone = row.removed or location_status in ("STOPPING", "STOPPED")
                queue = str(spec.get("agent_queue", DEFAULT_QUEUE))
                digest = _digest(row.definition, row.status, queue, gone, row.error)
                if everything or digest != row.synced_digest:
                    desired.append(
                        Desired(
                            location=row.location,
                            name=row.name,
                            kind=AutomationKind(row.kind),
                            queue=queue,
                            definition=row.definition,
                            status=AutomationStatus(row.status),
                            removed=gone,
                            cursor=row.cursor,
                            digest=digest,
                        )
                    )
            return desired

    def synced(self, item: Desired, error: str = "") -> None:
        """Temporal holds what `item` asked for (or refused it with `error`); a removed item's row goes."""
        with self._db.write() as session:
            row = session.get(AutomationRow, (item.location, item.name))
            if row is None:
                return
            if item.removed and not error:
                session.delete(row)
                return
            row.synced_digest = item.digest
            row.temporal_error = error or None

    # ---- ticks -------------------------------------------------------------------------------

    def add_tick(self, location: str, name: str, report: TickReport) -> bool:
        """Store a tick once (idempotent by tick id); True if it was new. Keeps the last KEPT_TICKS."""
        with self._db.write() as session:
            row = self._row(session, location, name)
            if session.scalars(select(TickRow.id).where(TickRow.tick_id == report.tick_id)).first() is not None:
                return False
            tick = TickRow(
                location=location,
                automation=name,
                tick_id=report.tick_id,
                time=utcnow(),
                scheduled_time=report.scheduled_time,
                outcome=report.outcome.value,
                reason=report.reason,
                run_ids=report.run_ids,
                cursor=report.cursor,
                backfill_id=report.backfill_id,
            )
            session.add(tick)
            session.flush()
            if report.outcome is TickOutcome.FAILURE and row.last_outcome != TickOutcome.FAILURE.value:
                # On the change to failure only: a sensor failing every 30 s is one alert, not one per tick.
                outbox.tick_failed(session, location, name, row.kind, report.tick_id, report.reason or "", tick.time)
            row.last_tick_id, row.last_outcome = report.tick_id, report.outcome.value
            if report.kind is AutomationKind.SENSOR:
                row.cursor = report.cursor
            if tick.id % 100 == 0:
                self._prune(session, location, name)
            return True

    @staticmethod
    def _prune(session: Session, location: str, name: str) -> None:
        kept = (
            select(TickRow.id)
            .where(TickRow.location == location, TickRow.automation == name)
            .order_by(TickRow.id.desc())
            .offset(KEPT_TICKS)
            .limit(1)
        )
        oldest_kept = session.scalars(kept).first()
        if oldest_kept is not None:
            session.execute(
                delete(TickRow).where(
                    TickRow.location == location, TickRow.automation == name, TickRow.id <= oldest_kept
                )
            )

    def ticks(self, location: str, name: str, limit: int = 100) -> TickList:
        """An automation's ticks, newest first."""
        with self._db.read() as session:
            self._row(session, location, name)
            query = (
                select(TickRow)
                .where(TickRow.location == location, TickRow.automation == name)
                .order_by(TickRow.id.desc())
                .limit(limit)
            )
            return TickList(ticks=[_tick_view(tick) for tick in session.scalars(query)])

    # ---- backfills ---------------------------------------------------------------------------

    def add_backfill(
        self, location: str, schedule: str, start: datetime, end: datetime, times: list[datetime]
    ) -> BackfillView:
        """Record a new backfill of `times`."""
        with self._db.write() as session:
            self._row(session, location, schedule)
            row = BackfillRow(
                id=new_run_id(),
                location=location,
                schedule=schedule,
                start=start,
                end=end,
                total=len(times),
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return self._backfill_view(session, row)

    def backfills(self, location: str, schedule: str) -> BackfillList:
        """A schedule's backfills, newest first, with their progress."""
        with self._db.read() as session:
            self._row(session, location, schedule)
            query = (
                select(BackfillRow)
                .where(BackfillRow.location == location, BackfillRow.schedule == schedule)
                .order_by(BackfillRow.created_at.desc())
            )
            return BackfillList(backfills=[self._backfill_view(session, row) for row in session.scalars(query)])

    @staticmethod
    def _backfill_view(session: Session, row: BackfillRow) -> BackfillView:
        ticks = session.scalars(select(TickRow).where(TickRow.backfill_id == row.id)).all()
        run_ids = [run_id for tick in ticks for run_id in tick.run_ids]
        done = len(ticks)
        return BackfillView(
            id=row.id,
            location=row.location,
            schedule=row.schedule,
            start=row.start,
            end=row.end,
            total=row.total,
            done=done,
            run_ids=run_ids,
            status="COMPLETED" if done >= row.total else "RUNNING",
            created_at=row.created_at,
        )

    # ---- reads -------------------------------------------------------------------------------

    def list(self, location: str | None = None) -> AutomationList:
        """Every automation (of one location), by location and name."""
        with self._db.read() as session:
            query = select(AutomationRow).where(AutomationRow.removed.is_(False))
            if location is not None:
                query = query.where(AutomationRow.location == location)
            rows = session.scalars(query.order_by(AutomationRow.location, AutomationRow.name)).all()
            return AutomationList(automations=[self._view(session, row) for row in rows])

    def get(self, location: str, name: str) -> AutomationView:
        """One automation; NotFound otherwise."""
        with self._db.read() as session:
            return self._view(session, self._row(session, location, name))

    def queue_of(self, location: str) -> str | None:
        """The agent queue of a location (the one its automations' runs and ticks belong to)."""
        with self._db.read() as session:
            row = session.get(LocationRow, location)
            return str(row.spec.get("agent_queue", DEFAULT_QUEUE)) if row is not None else None

    @staticmethod
    def _row(session: Session, location: str, name: str) -> AutomationRow:
        row = session.get(AutomationRow, (location, name))
        if row is None or row.removed:
            raise NotFound(f"code location '{location}' has no automation '{name}'")
        return row

    @staticmethod
    def _view(session: Session, row: AutomationRow) -> AutomationView:
        last = None
        if row.last_tick_id is not None:
            tick = session.scalars(select(TickRow).where(TickRow.tick_id == row.last_tick_id)).first()
            last = _tick_view(tick) if tick is not None else None
        kind = AutomationKind(row.kind)
        return AutomationView(
            location=row.location,
            name=row.name,
            kind=kind,
            job=row.job,
            status=AutomationStatus(row.status),
            definition=row.definition,
            error=row.error or row.temporal_error or "",
            last_tick=last,
            cursor=row.cursor,
            temporal_id=temporal_id(kind, row.location, row.name),
            updated_at=row.updated_at,
        )


def _tick_view(tick: TickRow) -> TickView:
    return TickView(
        tick_id=tick.tick_id,
        time=tick.time,
        scheduled_time=tick.scheduled_time,
        outcome=TickOutcome(tick.outcome),
        reason=tick.reason or "",
        run_ids=tick.run_ids or [],
        cursor=tick.cursor,
        backfill_id=tick.backfill_id,
    )
