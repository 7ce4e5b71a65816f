"""The run queue: which waiting runs may leave it now, the slots they take, and why the others wait.

The control plane's database is the one owner of slots. A run that falls under a limit (contracts/limits.py) is
stored QUEUED with no workflow; leaving the queue ("dequeue") takes one slot in each of its buckets and marks it
`dequeued_at` in one transaction, and only then is its RunWorkflow started (controlplane/dispatcher.py). Its slots
are deleted by the transaction that stores its final status (controlplane/run_transitions.py), whatever ends it.
A run that falls under no limit leaves the queue as it is stored (the fast path).

Concurrency: every dequeue and every change of the limits holds the queue lock (PostgreSQL: an advisory lock;
SQLite: every write transaction holds the database), so two replicas never hand out the same slot. A launch's
fast-path decision holds it shared: a limit created meanwhile sees the run, or the run sees the limit. Runs are
marked dequeued with a conditional UPDATE, so a run canceled or timed out meanwhile stays ended.

Order: priority (higher first), then first come; a run blocked by one full bucket does not hold back the runs
behind it that fit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contracts.locations import LocationSpec
from contracts.run_limits import LimitScope, parse_scope
from contracts.run_protocol import RunStatus
from contracts.runs import RunRequest
from contracts.statuses import LocationStatus
from controlplane.database import Database, lock_row
from controlplane.run_transitions import Move, advance
from controlplane.secret_env import SecretEnvSealer
from controlplane.tables import LocationRow, RunLimitRow, RunRow, RunSlotRow, utcnow

# pg_advisory_xact_lock key of the run queue (any fixed number no other user of the database takes).
QUEUE_LOCK_KEY = 0x4C6F6E6751756575  # "LongQueu"
_GONE = (LocationStatus.STOPPING, LocationStatus.STOPPED)


def lock_queue(session: Session, *, shared: bool = False) -> None:
    """Hold the queue lock until the transaction ends (PostgreSQL; SQLite's write transaction already does)."""
    if session.get_bind().dialect.name == "postgresql":
        lock = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
        session.execute(select(lock(QUEUE_LOCK_KEY)))


@dataclass(frozen=True)
class Bucket:
    """The room of one bucket: the smallest maximum of the limits that give it, and the limit that sets it."""

    maximum: int
    scope: LimitScope


class Limits:
    """The limits in force, as parsed scopes."""

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        self.entries = [(parse_scope(scope), maximum) for scope, maximum in entries]

    @classmethod
    def load(cls, session: Session) -> Limits:
        """The stored limits."""
        return cls(session.execute(select(RunLimitRow.scope, RunLimitRow.max_concurrent)).tuples())

    def buckets(self, queue: str | None, pool: str | None, tags: dict[str, str]) -> dict[str, Bucket]:
        """The buckets a run with this queue, pool and tags takes a slot in (none: it falls under no limit)."""
        found: dict[str, Bucket] = {}
        for scope, maximum in self.entries:
            bucket = scope.bucket(queue, pool, tags)
            if bucket is not None and (bucket not in found or maximum < found[bucket].maximum):
                found[bucket] = Bucket(maximum, scope)
        return found

    def all_full(self, usage: Counter[str]) -> bool:
        """True if no limit has room (never with a per-value limit: a new value always has room)."""
        for scope, maximum in self.entries:
            bucket = scope.fixed_bucket()
            if bucket is None or usage[bucket] < maximum:
                return False
        return True


@dataclass(frozen=True)
class Waiting:
    """A run waiting in the queue, as the dequeue looks at it."""

    id: str
    queue: str | None
    pool: str | None
    tags: dict[str, str]


def waiting_runs(session: Session) -> list[Waiting]:
    """The waiting runs in queue order: priority (higher first), then first come."""
    query = (
        select(RunRow.id, RunRow.queue, RunRow.pool, RunRow.tags)
        .where(RunRow.status == RunStatus.QUEUED.value, RunRow.dequeued_at.is_(None))
        .order_by(RunRow.priority.desc(), RunRow.created_at, RunRow.id)
    )
    return [Waiting(id, queue, pool, tags or {}) for id, queue, pool, tags in session.execute(query).tuples()]


def slot_usage(session: Session) -> Counter[str]:
    """Slots held, per bucket."""
    query = select(RunSlotRow.bucket, func.count()).group_by(RunSlotRow.bucket)
    return Counter(dict(session.execute(query).tuples().all()))


def blocking(buckets: dict[str, Bucket], usage: Counter[str]) -> str | None:
    """The first full bucket among `buckets`, or None if the run fits."""
    return next((name for name, room in buckets.items() if usage[name] >= room.maximum), None)


@dataclass(frozen=True)
class Start:
    """A run that left the queue: what its workflow is started with."""

    run_id: str
    request: RunRequest
    location: LocationSpec


@dataclass(frozen=True)
class Spot:
    """A waiting run's place in the queue and why it waits."""

    position: int
    message: str


class RunQueue:
    """Dequeues, and describes the queue; one transaction per method."""

    def __init__(self, db: Database, sealer: SecretEnvSealer, run_token_grace_s: float = 3600.0) -> None:
        self._db = db
        self._sealer = sealer
        self._token_grace = timedelta(seconds=run_token_grace_s)

    def dequeue(self, thorough: bool = False) -> list[Start]:
        """Take slots for every waiting run that fits now, in queue order; the runs to start.

        Once every limit is full the pass stops: the runs left all wait for one. A run that no limit holds
        back any more (its limit was removed) is let out by a `thorough` pass, the one after each change of the
        limits (and each run-monitor cycle's)."""
        with self._db.write() as session:
            lock_queue(session)
            now = utcnow()
            limits = Limits.load(session)
            usage = slot_usage(session)
            taken: list[str] = []
            for run in waiting_runs(session):
                if not thorough and limits.all_full(usage):
                    break
                buckets = limits.buckets(run.queue, run.pool, run.tags)
                if blocking(buckets, usage) is not None:
                    continue
                if not _mark_dequeued(session, run.id, now):
                    continue  # canceled or timed out since the read
                session.add_all(RunSlotRow(bucket=name, run_id=run.id) for name in buckets)
                usage.update(buckets.keys())
                taken.append(run.id)
            return self._starts(session, taken, now)

    def start_of(self, run_id: str) -> Start | None:
        """What to start a dequeued run's workflow with, while it is still QUEUED (else None)."""
        with self._db.write() as session:
            row = lock_row(session, RunRow, run_id)
            if row is None or row.status != RunStatus.QUEUED or row.dequeued_at is None:
                return None
            starts = self._starts(session, [run_id], utcnow())
            return starts[0] if starts else None

    def end_waiting(self, run_id: str, status: RunStatus, reason: str) -> bool:
        """End a run still waiting in the queue (it never had a workflow); False if it left the queue or ended."""
        with self._db.write() as session:
            row = lock_row(session, RunRow, run_id)
            if row is None or row.status != RunStatus.QUEUED or row.dequeued_at is not None:
                return False
            return advance(session, row, Move(status, reason=reason), now=utcnow(), token_grace=self._token_grace)

    def has_waiting(self) -> bool:
        """True if any run waits in the queue."""
        with self._db.read() as session:
            query = select(RunRow.id).where(RunRow.status == RunStatus.QUEUED.value, RunRow.dequeued_at.is_(None))
            return session.scalars(query.limit(1)).first() is not None

    def _starts(self, session: Session, run_ids: Sequence[str], now: datetime) -> list[Start]:
        """The start of each run; a run whose location went away while it waited fails instead (freeing its
        slots in this same transaction)."""
        starts: list[Start] = []
        specs: dict[str, LocationSpec | None] = {}
        for run_id in run_ids:
            row = session.get_one(RunRow, run_id)
            if row.location not in specs:
                location = session.get(LocationRow, row.location)
                gone = location is None or location.status in _GONE
                specs[row.location] = None if gone or location is None else self._sealer.open(location.spec)
            spec = specs[row.location]
            if spec is None:
                why = f"its code location '{row.location}' was removed while the run waited in the run queue"
                advance(session, row, Move(RunStatus.FAILURE, reason=why), now=now, token_grace=self._token_grace)
                continue
            starts.append(Start(run_id, RunRequest.model_validate(row.request), spec))
        return starts


def queue_spots(session: Session) -> dict[str, Spot]:
    """Every waiting run's place and reason, as the next dequeue would see them."""
    limits = Limits.load(session)
    usage = slot_usage(session)
    spots: dict[str, Spot] = {}
    ahead: Counter[str] = Counter()
    for position, run in enumerate(waiting_runs(session), start=1):
        buckets = limits.buckets(run.queue, run.pool, run.tags)
        full = blocking(buckets, usage)
        if full is None:
            message = "waiting: leaving the queue now"
            usage.update(buckets.keys())
        else:
            room = buckets[full]
            before = ahead[full]
            message = (
                f"waiting: {room.scope.describe(full)} {usage[full]}/{room.maximum} in use; "
                f"{before} run{'' if before == 1 else 's'} ahead"
            )
        ahead.update(buckets.keys())
        spots[run.id] = Spot(position, message)
    return spots


def _mark_dequeued(session: Session, run_id: str, now: datetime) -> bool:
    # Conditional: on PostgreSQL the row is re-checked once a concurrent cancel or timeout has committed.
    result: Any = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RunStatus.QUEUED.value, RunRow.dequeued_at.is_(None))
        .values(dequeued_at=now)
    )
    return bool(result.rowcount)


def falls_under_limits(session: Session, queue: str | None, pool: str | None, tags: dict[str, str]) -> bool:
    """True if a run with this queue, pool and tags must go through the queue (holds the queue lock shared)."""
    lock_queue(session, shared=True)
    return bool(Limits.load(session).buckets(queue, pool, tags))
