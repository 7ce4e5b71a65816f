"""Storage of runs: launch validation and idempotency, listing, report rules, and idempotent event/log ingest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from sqlalchemy import Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.api import EventList, IngestResult, LogList, RunList, RunView
from contracts.locations import Definitions, JobDefinition, LocationSpec
from contracts.runs import LogLine, RunEvent, RunReport, RunRequest, RunRetryPolicy
from contracts.statuses import LocationStatus, RunStatus
from contracts.temporal import run_workflow_id
from controlplane.database import Database
from controlplane.errors import Conflict, Invalid, NotFound
from controlplane.ids import new_run_id
from controlplane.links import TemporalLinks, workflow_url
from controlplane.tables import LocationRow, RunEventRow, RunLogRow, RunRow, TokenRow, utcnow


def run_view(row: RunRow, links: TemporalLinks | None = None) -> RunView:
    """The API view of a stored run."""
    return RunView(
        id=row.id,
        location=row.location,
        job=row.job,
        config=row.config,
        tags=row.tags,
        status=RunStatus(row.status),
        reason=row.reason,
        log_tail=row.log_tail or "",
        attempt=row.attempt,
        idempotency_key=row.idempotency_key,
        start_timeout_s=row.start_timeout_s,
        max_runtime_s=row.max_runtime_s,
        retry=RunRetryPolicy.model_validate(row.retry),
        workflow_id=row.workflow_id,
        temporal_url=workflow_url(links, row.workflow_id),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


@dataclass(frozen=True)
class Launch:
    """Outcome of storing a launch: the run, whether this call created it, and (if so) the spec to run it with."""

    run: RunView
    created: bool
    location: LocationSpec | None


def validate_config(job: JobDefinition, config: dict[str, Any]) -> None:
    """Invalid unless `config` satisfies the job's JSON schema."""
    if not job.config_schema:
        return
    validator_cls = jsonschema.validators.validator_for(job.config_schema)
    try:
        validator_cls.check_schema(job.config_schema)
    except jsonschema.SchemaError as err:
        raise Invalid(f"job '{job.name}' declares an invalid config schema: {err.message}") from err
    error = best_match(validator_cls(job.config_schema).iter_errors(config))
    if error is not None:
        where = "config" + "".join(f"[{p!r}]" for p in error.absolute_path)
        raise Invalid(f"config is not valid for job '{job.name}': {where}: {error.message}")


def _insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert rows, silently skipping primary-key duplicates; returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:
        # Portable fallback for other databases: skip keys already stored, then a plain insert.
        existing = set(
            session.execute(select(table.c.attempt, table.c.seq).where(table.c.run_id == rows[0]["run_id"])).tuples()
        )
        fresh = {(r["attempt"], r["seq"]): r for r in rows if (r["attempt"], r["seq"]) not in existing}
        if fresh:
            session.execute(table.insert(), list(fresh.values()))
        return len(fresh)
    # RETURNING counts exactly the rows that went in, on every driver (executemany rowcount does not).
    result = session.execute(stmt.returning(table.c.seq), rows)
    return len(result.all())


RUN_START = "RUN_START"  # the run worker's first event: the job is about to run
_LIVE = frozenset({RunStatus.STARTING, RunStatus.STARTED})


class RunStore:
    """Every read and write of runs, their events and logs; one transaction per method."""

    def __init__(self, db: Database, links: TemporalLinks | None = None, run_token_grace_s: float = 3600.0) -> None:
        self._db = db
        self._links = links
        self._token_grace = timedelta(seconds=run_token_grace_s)

    # ---- launch ---------------------------------------------------------------------------------------

    def launch(self, request: RunRequest) -> Launch:
        """Validate and store a QUEUED run, or return the run an earlier request with the same key created."""
        try:
            with self._db.write() as session:
                if request.idempotency_key is not None:
                    existing = self._by_key(session, request.idempotency_key)
                    if existing is not None:
                        return existing
                location = self._launchable_location(session, request)
                run_id = new_run_id()
                session.add(
                    RunRow(
                        id=run_id,
                        location=request.location,
                        job=request.job,
                        config=request.config,
                        tags=request.tags,
                        request=request.model_dump(mode="json"),
                        status=RunStatus.QUEUED,
                        idempotency_key=request.idempotency_key,
                        start_timeout_s=request.start_timeout_s,
                        max_runtime_s=request.max_runtime_s,
                        retry=request.retry.model_dump(mode="json"),
                        workflow_id=run_workflow_id(run_id),
                        created_at=utcnow(),
                    )
                )
                session.flush()
                row = session.get_one(RunRow, run_id)
                return Launch(run=run_view(row, self._links), created=True, location=location)
        except IntegrityError:
            # Only the idempotency key can collide: a concurrent request with the same key won the race.
            if request.idempotency_key is None:
                raise
            with self._db.read() as session:
                winner = self._by_key(session, request.idempotency_key)
            if winner is None:
                raise
            return winner

    def _by_key(self, session: Session, key: str) -> Launch | None:
        row = session.scalars(select(RunRow).where(RunRow.idempotency_key == key)).first()
        if row is None:
            return None
        return Launch(run=run_view(row, self._links), created=False, location=None)

    @staticmethod
    def _launchable_location(session: Session, request: RunRequest) -> LocationSpec:
        location = session.get(LocationRow, request.location)
        if location is None:
            raise NotFound(f"code location '{request.location}' does not exist")
        if location.status in (LocationStatus.STOPPING, LocationStatus.STOPPED):
            raise Conflict(f"code location '{request.location}' is {location.status}; add it again to run jobs")
        if location.definitions is None:
            raise Conflict(
                f"code location '{request.location}' has not reported its definitions yet "
                f"(status {location.status}); retry once it is LOADED"
            )
        definitions = Definitions.model_validate(location.definitions)
        job = definitions.job(request.job)
        if job is None:
            available = ", ".join(sorted(j.name for j in definitions.jobs)) or "none"
            raise Invalid(f"job '{request.job}' not found in code location '{request.location}' (jobs: {available})")
        validate_config(job, request.config)
        return LocationSpec.model_validate(location.spec)

    def discard(self, run_id: str) -> None:
        """Remove a run whose workflow could not be started (tokens, events and logs go with it)."""
        with self._db.write() as session:
            session.execute(delete(RunRow).where(RunRow.id == run_id))

    # ---- reads ----------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunView:
        """The run; NotFound otherwise."""
        with self._db.read() as session:
            return run_view(self._row(session, run_id), self._links)

    def list(
        self, *, location: str | None = None, job: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> RunList:
        """Runs matching every given filter, newest first."""
        query = select(RunRow)
        if location is not None:
            query = query.where(RunRow.location == location)
        if job is not None:
            query = query.where(RunRow.job == job)
        if status is not None:
            query = query.where(RunRow.status == status.value)
        query = query.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)
        with self._db.read() as session:
            return RunList(runs=[run_view(r, self._links) for r in session.scalars(query).all()])

    def events(self, run_id: str, *, after_seq: int = 0, attempt: int | None = None, limit: int = 10_000) -> EventList:
        """A run's events in (attempt, seq) order."""
        with self._db.read() as session:
            self._row(session, run_id)
            query = select(RunEventRow).where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
            if attempt is not None:
                query = query.where(RunEventRow.attempt == attempt)
            query = query.order_by(RunEventRow.attempt, RunEventRow.seq).limit(limit)
            events = [
                RunEvent(seq=r.seq, time=r.time, type=r.type, message=r.message, attempt=r.attempt)
                for r in session.scalars(query)
            ]
            return EventList(events=events)

    def logs(self, run_id: str, *, after_seq: int = 0, attempt: int | None = None, limit: int = 10_000) -> LogList:
        """A run's log lines in (attempt, seq) order."""
        with self._db.read() as session:
            self._row(session, run_id)
            query = select(RunLogRow).where(RunLogRow.run_id == run_id, RunLogRow.seq > after_seq)
            if attempt is not None:
                query = query.where(RunLogRow.attempt == attempt)
            query = query.order_by(RunLogRow.attempt, RunLogRow.seq).limit(limit)
            lines = [
                LogLine(seq=r.seq, time=r.time, stream=r.stream, line=r.line, attempt=r.attempt)
                for r in session.scalars(query)
            ]
            return LogList(lines=lines)

    # ---- writes from the agent and the run worker -----------------------------------------------------

    def add_events(self, run_id: str, events: Sequence[RunEvent]) -> IngestResult:
        """Store new events; ones already stored (same attempt and seq) count as duplicates."""
        rows = [
            {"run_id": run_id, "attempt": e.attempt, "seq": e.seq, "time": e.time, "type": e.type, "message": e.message}
            for e in events
        ]
        with self._db.write() as session:
            self._exists(session, run_id)
            accepted = _insert_ignore(session, RunEventRow.__table__, rows)
            if accepted and any(e.type == RUN_START for e in events):
                # A job that ends while the agent's launch still watches it gets no STARTED report: its
                # worker's own RUN_START event (received now; the worker's clock may be off) says when it ran.
                session.execute(
                    update(RunRow).where(RunRow.id == run_id, RunRow.started_at.is_(None)).values(started_at=utcnow())
                )
        return IngestResult(accepted=accepted, duplicates=len(rows) - accepted)

    def add_logs(self, run_id: str, lines: Sequence[LogLine]) -> IngestResult:
        """Store new log lines; ones already stored (same attempt and seq) count as duplicates."""
        rows = [
            {"run_id": run_id, "attempt": x.attempt, "seq": x.seq, "time": x.time, "stream": x.stream, "line": x.line}
            for x in lines
        ]
        with self._db.write() as session:
            self._exists(session, run_id)
            accepted = _insert_ignore(session, RunLogRow.__table__, rows)
        return IngestResult(accepted=accepted, duplicates=len(rows) - accepted)

    def apply_report(self, run_id: str, report: RunReport) -> bool:
        """Store an agent report if newer (seq) and allowed by the status rules; True if applied.

        Terminal statuses never change; while CANCELING only a terminal status applies.
        """
        if report.run_id != run_id:
            raise Invalid(f"report is about run '{report.run_id}' but was sent for '{run_id}'")
        with self._db.write() as session:
            row = self._row(session, run_id)
            current = RunStatus(row.status)
            if report.seq <= row.report_seq or current.is_terminal:
                return False
            if current is RunStatus.CANCELING and not report.status.is_terminal:
                return False
            now = utcnow()
            row.report_seq = report.seq
            row.status = report.status
            row.attempt = report.attempt
            row.reason = report.reason
            if report.log_tail:
                row.log_tail = report.log_tail
            if report.worker is not None:
                row.worker = report.worker
            if report.status is RunStatus.STARTED and row.started_at is None:
                row.started_at = now
            if report.status.is_terminal:
                row.finished_at = now
                # A finished run's workers need their tokens only to deliver their last events: not for long.
                session.execute(
                    update(TokenRow)
                    .where(TokenRow.run_id == run_id, TokenRow.expires_at.is_(None))
                    .values(expires_at=now + self._token_grace)
                )
            return True

    def mark_starting(self, run_id: str, attempt: int) -> None:
        """The agent is launching `attempt`: QUEUED (or an earlier attempt) becomes STARTING; NotFound if unknown.

        Asking for the attempt's token is how the agent says so: one request instead of a report and a token,
        which keeps a run's workflow history short. Terminal, canceling and later statuses are left alone.
        """
        with self._db.write() as session:
            row = self._row(session, run_id)
            current = RunStatus(row.status)
            if current is RunStatus.QUEUED or (current in _LIVE and row.attempt < attempt):
                row.status = RunStatus.STARTING
                row.attempt = attempt

    def mark_canceling(self, run_id: str) -> RunView:
        """Move a live run to CANCELING; Conflict if it already finished."""
        with self._db.write() as session:
            row = self._row(session, run_id)
            current = RunStatus(row.status)
            if current.is_terminal:
                raise Conflict(f"run {run_id} already finished ({current}); nothing to cancel")
            row.status = RunStatus.CANCELING
            session.flush()
            return run_view(row, self._links)

    def require_cancelable(self, run_id: str) -> RunView:
        """The run if it can still be canceled; NotFound or Conflict otherwise."""
        view = self.get(run_id)
        if view.status.is_terminal:
            raise Conflict(f"run {run_id} already finished ({view.status}); nothing to cancel")
        return view

    # ---- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, run_id: str) -> RunRow:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"run '{run_id}' does not exist")
        return row

    @staticmethod
    def _exists(session: Session, run_id: str) -> None:
        if session.scalars(select(RunRow.id).where(RunRow.id == run_id)).first() is None:
            raise NotFound(f"run '{run_id}' does not exist")
