"""Storage of runs: launch validation and idempotency, listing, report rules, and idempotent event/log ingest."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.api import EventList, IngestResult, LogList, RunList, RunView
from contracts.compute_logs import ComputeLogs
from contracts.config_schema import schema_errors
from contracts.locations import Definitions, JobDefinition, LocationSpec
from contracts.run_protocol import (
    ASSETS_TAG,
    PARTITION_TAG,
    PRIORITY_TAG,
    RESERVED_TAG_PREFIX,
    TERMINAL_RUN_STATUSES,
    EventType,
    RunStatus,
)
from contracts.runs import LogLine, ReexecuteRequest, RunEvent, RunReport, RunRequest, RunRetryPolicy
from contracts.statuses import LocationStatus
from contracts.temporal import run_workflow_id
from controlplane.alerts import outbox
from controlplane.database import Database, lock_row
from controlplane.errors import Conflict, Invalid, NotFound
from controlplane.ids import new_run_id
from controlplane.links import TemporalLinks, workflow_url
from controlplane.run_queue import Spot, falls_under_limits, queue_spots
from controlplane.run_search import RunFilter, encode_cursor, runs_query
from controlplane.run_transitions import Move, advance, record_started
from controlplane.scopes import ANY_QUEUE, QueueScope
from controlplane.secret_env import SecretEnvSealer
from controlplane.tables import LocationRow, RunEventRow, RunLogRow, RunRow, TokenRow, utcnow


def run_view(row: RunRow, links: TemporalLinks | None = None, spot: Spot | None = None) -> RunView:
    """The API view of a stored run (`spot`: its place in the run queue, while it waits there)."""
    return RunView(
        id=row.id,
        location=row.location,
        job=row.job,
        config=row.config,
        tags=row.tags,
        status=RunStatus(row.status),
        reason=row.reason,
        message=spot.message if spot is not None else row.message or "",
        queue=row.queue,
        log_tail=row.log_tail or "",
        compute_logs=ComputeLogs.model_validate(row.compute_logs) if row.compute_logs else None,
        attempt=row.attempt,
        idempotency_key=row.idempotency_key,
        start_timeout_s=row.start_timeout_s,
        queued_timeout_s=(row.request or {}).get("queued_timeout_s"),
        max_runtime_s=row.max_runtime_s,
        retry=RunRetryPolicy.model_validate(row.retry),
        workflow_id=row.workflow_id,
        temporal_url=workflow_url(links, row.workflow_id),
        priority=row.priority,
        pool=row.pool,
        queue_position=spot.position if spot is not None else None,
        parent_run_id=row.parent_run_id,
        created_at=row.created_at,
        dequeued_at=row.dequeued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


@dataclass(frozen=True)
class Launch:
    """Outcome of storing a launch: the run, whether this call created it, and (if so) the spec to run it with.

    `queued`: the run falls under a limit and waits in the run queue (no workflow yet); otherwise a new run left
    the queue at once and its workflow is the caller's to start."""

    run: RunView
    created: bool
    location: LocationSpec | None
    queued: bool = False
    # The request as it runs: its job resolved (an asset launch) and its asset and partition tags added.
    request: RunRequest | None = None


@dataclass(frozen=True)
class Prepared:
    """A launch as it would be stored, nothing stored yet: the earlier run of its idempotency key, or its location,
    job and request as it would run."""

    existing: Launch | None = None
    location: LocationSpec | None = None
    job: JobDefinition | None = None
    request: RunRequest | None = None


def validate_config(job: JobDefinition, config: dict[str, Any]) -> None:
    """Invalid unless `config` satisfies the job's JSON schema."""
    errors = schema_errors(job.name, job.config_schema, config)
    if errors:
        raise Invalid(errors[0])


def asset_launch_tags(
    definitions: Definitions, job: JobDefinition, location: str, assets: list[str] | None, partition: str | None
) -> dict[str, str]:
    """The run tags that carry a Dagster launch's asset selection and partition (Invalid if the job has neither)."""
    tags: dict[str, str] = {}
    if assets is not None:
        if definitions.framework != "dagster":
            raise Invalid(f"code location '{location}' has no assets: --assets needs a Dagster location")
        unknown = sorted(set(assets) - set(job.assets))
        if unknown:
            known = ", ".join(job.assets) or "none"
            raise Invalid(f"job '{job.name}' does not materialize {', '.join(unknown)} (its assets: {known})")
        tags[ASSETS_TAG] = json.dumps(sorted(set(assets)))
    if partition is not None:
        if not job.partitioned:
            raise Invalid(f"job '{job.name}' of code location '{location}' is not partitioned")
        if job.partition_keys is not None and partition not in job.partition_keys:
            shown = ", ".join(job.partition_keys[:10]) + (", ..." if len(job.partition_keys) > 10 else "")
            raise Invalid(f"job '{job.name}' has no partition '{partition}' (partitions: {shown})")
        tags[PARTITION_TAG] = partition
    return tags


@dataclass(frozen=True)
class LiveRun:
    """A run not final yet, as the run monitor looks at it."""

    id: str
    status: RunStatus
    queue: str | None
    created_at: datetime
    queued_timeout_s: float | None
    message: str
    waiting: bool = False  # in the run queue: no workflow yet (the queue says why it waits)


_FINAL = [status.value for status in TERMINAL_RUN_STATUSES]
_LEFT_QUEUE = RunRow.dequeued_at.is_not(None)


def _waiting(row: RunRow) -> bool:
    return row.status == RunStatus.QUEUED and row.dequeued_at is None


def _insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert rows, silently skipping primary-key duplicates (also ones a concurrent transaction inserts);
    returns how many were new."""
    if not rows:
        return 0
    # The two databases the control plane runs on (controlplane/database.py) both have ON CONFLICT DO NOTHING.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt: Insert = dialect.insert(table).on_conflict_do_nothing()
    # RETURNING counts exactly the rows that went in, on every driver (executemany rowcount does not).
    result = session.execute(stmt.returning(table.c.seq), rows)
    return len(result.all())


class RunStore:
    """Every read and write of runs, their events and logs; one transaction per method."""

    def __init__(
        self,
        db: Database,
        sealer: SecretEnvSealer,
        links: TemporalLinks | None = None,
        run_token_grace_s: float = 3600.0,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._links = links
        self._token_grace = timedelta(seconds=run_token_grace_s)

    # ---- launch ---------------------------------------------------------------------------------------

    def launch(self, request: RunRequest, parent_run_id: str | None = None) -> Launch:
        """Validate and store a QUEUED run, or return the run an earlier request with the same key created."""
        try:
            with self._db.write() as session:
                if request.idempotency_key is not None:
                    existing = self._by_key(session, request.idempotency_key)
                    if existing is not None:
                        return existing
                location, job, request = self._launchable_location(session, request)
                queued = falls_under_limits(session, location.agent_queue, job.pool, request.tags)
                now = utcnow()
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
                        queue=location.agent_queue,
                        priority=request.priority,
                        pool=job.pool,
                        parent_run_id=parent_run_id,
                        created_at=now,
                        dequeued_at=None if queued else now,
                    )
                )
                outbox.run_queued(session, run_id, request.location, request.job, dict(request.tags), now)
                session.flush()
                row = session.get_one(RunRow, run_id)
                return Launch(
                    run=run_view(row, self._links), created=True, location=location, queued=queued, request=request
                )
        except IntegrityError:
            # Only the idempotency key can collide: a concurrent request with the same key won the race.
            if request.idempotency_key is None:
                raise
            with self._db.read() as session:
                winner = self._by_key(session, request.idempotency_key)
            if winner is None:
                raise
            return winner

    def prepare(self, request: RunRequest) -> Prepared:
        """What `launch` would do with `request`, checked (NotFound, Conflict, Invalid as it raises them) but not
        stored: the earlier run of its key, else its location, job and request as it would run."""
        with self._db.read() as session:
            if request.idempotency_key is not None:
                existing = self._by_key(session, request.idempotency_key)
                if existing is not None:
                    return Prepared(existing=existing)
            location, job, resolved = self._launchable_location(session, request)
            return Prepared(location=location, job=job, request=resolved)

    def _by_key(self, session: Session, key: str) -> Launch | None:
        row = session.scalars(select(RunRow).where(RunRow.idempotency_key == key)).first()
        if row is None:
            return None
        return Launch(run=run_view(row, self._links), created=False, location=None)

    def reexecution(self, parent_id: str, body: ReexecuteRequest) -> RunRequest:
        """The request that launches `parent_id` again: its location, job, config, tags and options, with the
        body's overrides (a new config replaces the parent's; tags are merged over its own).

        Tags Longshoreman put on the parent (an automation's) describe how the parent was launched and are
        dropped; its priority stays."""
        parent = self.get(parent_id)
        with self._db.read() as session:
            stored = dict(self._row(session, parent_id).request or {})
        own = {k: v for k, v in parent.tags.items() if not k.startswith(RESERVED_TAG_PREFIX) or k == PRIORITY_TAG}
        stored.update(
            config=body.config if body.config is not None else parent.config,
            tags=own | (body.tags or {}),
            idempotency_key=body.idempotency_key,
        )
        return RunRequest.model_validate(stored)

    def _launchable_location(
        self, session: Session, request: RunRequest
    ) -> tuple[LocationSpec, JobDefinition, RunRequest]:
        """The location's spec, the job and the request as it runs (asset job, asset and partition tags), or why
        not."""
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
        if not request.job and definitions.asset_job is not None:
            request = request.model_copy(update={"job": definitions.asset_job})
        job = definitions.job(request.job)
        if job is None:
            if not request.job:
                raise Invalid(f"code location '{request.location}' has no assets: name a job to run")
            available = ", ".join(sorted(j.name for j in definitions.jobs)) or "none"
            raise Invalid(f"job '{request.job}' not found in code location '{request.location}' (jobs: {available})")
        validate_config(job, request.config)
        tags = asset_launch_tags(definitions, job, request.location, request.assets, request.partition)
        if tags:
            request = request.model_copy(update={"tags": request.tags | tags})
        return self._sealer.open(location.spec), job, request

    def discard(self, run_id: str) -> None:
        """Remove a run whose workflow could not be started (tokens, events and logs go with it)."""
        with self._db.write() as session:
            session.execute(delete(RunRow).where(RunRow.id == run_id))

    # ---- reads ----------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunView:
        """The run; NotFound otherwise."""
        with self._db.read() as session:
            row = self._row(session, run_id)
            spots = queue_spots(session) if _waiting(row) else {}
            return run_view(row, self._links, spots.get(row.id))

    def list(self, where: RunFilter | None = None, *, cursor: str | None = None, limit: int = 100) -> RunList:
        """Runs matching every filter of `where`, newest first, `limit` a page, after `cursor`."""
        with self._db.read() as session:
            rows = list(session.scalars(runs_query(where or RunFilter(), cursor, limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            spots = queue_spots(session) if any(_waiting(row) for row in rows) else {}
            return RunList(
                runs=[run_view(row, self._links, spots.get(row.id)) for row in rows],
                next_cursor=encode_cursor(rows[-1]) if more else None,
            )

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
        """Store new events; ones already stored (same attempt and seq) count as duplicates.

        The run worker's RUN_START says it is up and about to run the job: the run is STARTED (and a job that
        ends while the agent's launch still watches it gets no STARTED report, so this is its started_at).
        """
        rows = [
            {"run_id": run_id, "attempt": e.attempt, "seq": e.seq, "time": e.time, "type": e.type, "message": e.message}
            for e in events
        ]
        starts = [e.attempt for e in events if e.type == EventType.RUN_START]
        with self._db.write() as session:
            # Locked before the insert when the status may change: the same order as every other writer.
            row = self._locked(session, run_id) if starts else None
            if row is None:
                self._exists(session, run_id)
            accepted = _insert_ignore(session, RunEventRow.__table__, rows)
            if accepted and row is not None:
                now = utcnow()
                # Received now: the worker's own clock may be off.
                if not advance(session, row, Move(RunStatus.STARTED, attempt=max(starts)), **self._when(now)):
                    record_started(row, now)  # canceling, or already final: it still did start
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

    def apply_report(self, run_id: str, report: RunReport, scope: QueueScope = ANY_QUEUE) -> bool:
        """Store an agent report if newer (seq) and allowed by the run protocol's transitions; True if applied.

        Forbidden unless the reporting agent's token serves the run's queue."""
        if report.run_id != run_id:
            raise Invalid(f"report is about run '{report.run_id}' but was sent for '{run_id}'")
        with self._db.write() as session:
            row = self._locked(session, run_id)
            self._check_scope(session, row, scope)
            if report.seq <= row.report_seq:
                return False
            move = Move(report.status, attempt=report.attempt, reason=report.reason, log_tail=report.log_tail)
            if not advance(session, row, move, **self._when(utcnow())):
                return False
            row.report_seq = report.seq
            if report.worker is not None:
                row.worker = report.worker
            return True

    def mark_starting(
        self,
        run_id: str,
        attempt: int,
        scope: QueueScope = ANY_QUEUE,
        compute_logs: ComputeLogs | None = None,
        token: TokenRow | None = None,
    ) -> None:
        """The agent is launching `attempt`: the run becomes STARTING (attempt N); NotFound if unknown.

        Asking for the attempt's token is how the agent says so: one request instead of a report and a token,
        which keeps a run's workflow history short. A repeated request, or one for an older attempt, changes
        nothing; neither does one for a run that is canceling or final. `token` (TokenStore.new_run_token) is
        stored in the same transaction: it exists only if the run does and the agent may serve its queue.
        """
        with self._db.write() as session:
            row = self._locked(session, run_id)
            self._check_scope(session, row, scope)
            advance(session, row, Move(RunStatus.STARTING, attempt=attempt), **self._when(utcnow()))
            if compute_logs is not None and attempt >= row.attempt:
                row.compute_logs = compute_logs.model_dump(mode="json")
            if token is not None:
                session.add(token)

    def mark_canceling(self, run_id: str) -> RunView:
        """Move a live run to CANCELING (already CANCELING: unchanged); Conflict if it already finished."""
        with self._db.write() as session:
            row = self._locked(session, run_id)
            current = RunStatus(row.status)
            if not advance(session, row, Move(RunStatus.CANCELING), **self._when(utcnow())) and current.is_terminal:
                raise Conflict(f"run {run_id} already finished ({current}); nothing to cancel")
            session.flush()
            return run_view(row, self._links)

    def close(self, run_id: str, status: RunStatus, reason: str) -> bool:
        """End a run whose workflow closed without its final report (terminated, timed out, ...); True if it
        was still live and is now final."""
        assert status.is_terminal
        with self._db.write() as session:
            row = lock_row(session, RunRow, run_id)
            if row is None:
                return False
            return advance(session, row, Move(status, reason=reason), **self._when(utcnow()))

    def require_cancelable(self, run_id: str) -> RunView:
        """The run if it can still be canceled; NotFound or Conflict otherwise."""
        view = self.get(run_id)
        if view.status.is_terminal:
            raise Conflict(f"run {run_id} already finished ({view.status}); nothing to cancel")
        return view

    def set_waiting_message(self, run_id: str, message: str) -> None:
        """Say what a live run waits for (an agent, say); a final run keeps none."""
        with self._db.write() as session:
            session.execute(
                update(RunRow).where(RunRow.id == run_id, RunRow.status.not_in(_FINAL)).values(message=message)
            )

    # ---- what the run monitor looks at ----------------------------------------------------------------

    def live_among(self, run_ids: Sequence[str]) -> builtins.list[str]:
        """Those of `run_ids` that are not final yet."""
        live: builtins.list[str] = []
        with self._db.read() as session:
            for start in range(0, len(run_ids), 500):
                chunk = list(run_ids[start : start + 500])
                query = select(RunRow.id).where(RunRow.id.in_(chunk), RunRow.status.not_in(_FINAL), _LEFT_QUEUE)
                live.extend(session.scalars(query))
        return live

    def live_ids(self, older_than_s: float) -> builtins.list[str]:
        """Every run not final yet, out of the run queue (so it has a workflow), created over `older_than_s` ago."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self._db.read() as session:
            query = select(RunRow.id).where(RunRow.status.not_in(_FINAL), RunRow.created_at <= cutoff, _LEFT_QUEUE)
            return list(session.scalars(query))

    def live_runs(self, older_than_s: float) -> builtins.list[LiveRun]:
        """Runs not final yet, created more than `older_than_s` ago, oldest first."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        query = (
            select(RunRow).where(RunRow.status.not_in(_FINAL), RunRow.created_at <= cutoff).order_by(RunRow.created_at)
        )
        with self._db.read() as session:
            return [
                LiveRun(
                    id=row.id,
                    status=RunStatus(row.status),
                    queue=row.queue,
                    created_at=row.created_at,
                    queued_timeout_s=(row.request or {}).get("queued_timeout_s"),
                    message=row.message or "",
                    waiting=_waiting(row),
                )
                for row in session.scalars(query)
            ]

    def _when(self, now: datetime) -> dict[str, Any]:
        return {"now": now, "token_grace": self._token_grace}

    # ---- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, run_id: str) -> RunRow:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"run '{run_id}' does not exist")
        return row

    @staticmethod
    def _locked(session: Session, run_id: str) -> RunRow:
        """The run's row, locked for this write transaction (every read-then-write of a run takes it first)."""
        row = lock_row(session, RunRow, run_id)
        if row is None:
            raise NotFound(f"run '{run_id}' does not exist")
        return row

    @staticmethod
    def _check_scope(session: Session, row: RunRow, scope: QueueScope) -> None:
        queue = row.queue
        if queue is None and scope.patterns is not None:  # a run stored before runs kept their queue
            location = session.get(LocationRow, row.location)
            queue = LocationSpec.model_validate(location.spec).agent_queue if location is not None else None
        scope.check(queue, f"run {row.id}")

    @staticmethod
    def _exists(session: Session, run_id: str) -> None:
        if session.scalars(select(RunRow.id).where(RunRow.id == run_id)).first() is None:
            raise NotFound(f"run '{run_id}' does not exist")
