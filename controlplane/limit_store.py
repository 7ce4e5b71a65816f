"""Storage of the concurrency limits: set, remove, sync a whole set, and show how full each one is.

Every change holds the run queue's lock (controlplane/run_queue.py) and takes effect at once: the caller runs a
dequeue pass after it (a raised limit lets runs out of the queue at once). Lowering a limit stops nobody: runs
holding slots keep them, and the queue waits until fewer than the new maximum are in use.

A new limit counts the runs already out of the queue that fall under it: they get their slots in its bucket in
the same transaction (locked, so a run ending meanwhile frees them or is skipped), and the limit is exact from
the start.
"""

from __future__ import annotations

import builtins
from collections import Counter
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contracts.locations import Definitions
from contracts.run_limits import LimitKind, LimitScope, LimitSync, LimitSyncResult, LimitView, parse_scope, tag_bucket
from contracts.run_protocol import TERMINAL_RUN_STATUSES
from controlplane.database import Database
from controlplane.errors import Invalid, NotFound
from controlplane.run_queue import Limits, lock_queue, slot_usage, waiting_runs
from controlplane.tables import LocationRow, RunLimitRow, RunRow, RunSlotRow, utcnow

_FINAL = [status.value for status in TERMINAL_RUN_STATUSES]


def scope_of(text: str, field: str = "scope") -> LimitScope:
    """The parsed scope; Invalid naming `field` if it is none."""
    try:
        return parse_scope(text)
    except ValueError as err:
        raise Invalid(f"{field}: {err}") from None


class LimitStore:
    """Every read and write of limits; one transaction per method."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def list(self) -> list[LimitView]:
        """Every limit with its use, by scope."""
        with self._db.read() as session:
            return self._views(session)

    def set(self, text: str, max_concurrent: int) -> LimitView:
        """Create or change the limit of scope `text`; Invalid for a pool no job declares."""
        scope = scope_of(text)
        with self._db.write() as session:
            lock_queue(session)
            self._check_pools(session, {str(scope): scope}, "scope")
            self._put(session, scope, max_concurrent)
            return next(view for view in self._views(session) if view.scope == str(scope))

    def remove(self, text: str) -> None:
        """Remove the limit of scope `text`; NotFound if there is none. Its runs' slots go when they end."""
        scope = scope_of(text)
        with self._db.write() as session:
            lock_queue(session)
            result: Any = session.execute(delete(RunLimitRow).where(RunLimitRow.scope == str(scope)))
            if not result.rowcount:
                raise NotFound(f"no limit has scope '{scope}'")

    def sync(self, body: LimitSync) -> LimitSyncResult:
        """Make the stored limits exactly `body.limits` (all or nothing); what changed (or would: dry_run)."""
        wanted = {text: scope_of(text, f"limits.{text}") for text in body.limits}
        with self._db.write() as session:
            lock_queue(session)
            self._check_pools(session, wanted, "limits")
            stored = dict(session.execute(select(RunLimitRow.scope, RunLimitRow.max_concurrent)).tuples().all())
            added = sorted(set(wanted) - set(stored))
            changed = sorted(text for text in set(wanted) & set(stored) if stored[text] != body.limits[text])
            removed = sorted(set(stored) - set(wanted))
            if not body.dry_run:
                for text in added + changed:
                    self._put(session, wanted[text], body.limits[text])
                if removed:
                    session.execute(delete(RunLimitRow).where(RunLimitRow.scope.in_(removed)))
            return LimitSyncResult(added=added, changed=changed, removed=removed, limits=self._views(session))

    # ---- helpers --------------------------------------------------------------------------------------

    def _put(self, session: Session, scope: LimitScope, max_concurrent: int) -> None:
        row = session.get(RunLimitRow, str(scope))
        now = utcnow()
        if row is not None:
            row.max_concurrent, row.updated_at = max_concurrent, now
            return
        session.add(RunLimitRow(scope=str(scope), max_concurrent=max_concurrent, created_at=now, updated_at=now))
        self._count_running(session, scope)

    @staticmethod
    def _count_running(session: Session, scope: LimitScope) -> None:
        """Give the runs already out of the queue their slots under a new limit."""
        live = (
            select(RunRow.id, RunRow.queue, RunRow.pool, RunRow.tags)
            .where(RunRow.dequeued_at.is_not(None), RunRow.status.not_in(_FINAL))
            .with_for_update(key_share=True)  # a run ending meanwhile waits, then frees what it got here
        )
        wanted = {
            (bucket, run_id)
            for run_id, queue, pool, tags in session.execute(live).tuples()
            if (bucket := scope.bucket(queue, pool, tags or {})) is not None
        }
        if not wanted:
            return
        # Under the queue lock nobody else adds slots: what is not there yet can be added.
        held = set(
            session.execute(
                select(RunSlotRow.bucket, RunSlotRow.run_id).where(RunSlotRow.run_id.in_({r for _, r in wanted}))
            ).tuples()
        )
        session.add_all(RunSlotRow(bucket=bucket, run_id=run_id) for bucket, run_id in wanted - held)

    @staticmethod
    def _check_pools(session: Session, scopes: dict[str, LimitScope], field: str) -> None:
        pools = {scope.name: text for text, scope in scopes.items() if scope.kind is LimitKind.POOL}
        if not pools:
            return
        declared: set[str] = set()
        for definitions in session.scalars(select(LocationRow.definitions)):
            if definitions:
                declared.update(job.pool for job in Definitions.model_validate(definitions).jobs if job.pool)
        unknown = sorted(set(pools) - declared)
        if unknown:
            where = field if field == "scope" else f"{field}.{pools[unknown[0]]}"
            known = ", ".join(sorted(declared)) or "none"
            raise Invalid(f"{where}: no job of any code location declares pool '{unknown[0]}' (declared: {known})")

    @staticmethod
    def _views(session: Session) -> builtins.list[LimitView]:
        limits = Limits.load(session)
        usage = slot_usage(session)
        waiting: Counter[str] = Counter()
        for run in waiting_runs(session):
            for scope, _ in limits.entries:
                if scope.bucket(run.queue, run.pool, run.tags) is not None:
                    waiting[str(scope)] += 1
        rows = session.scalars(select(RunLimitRow).order_by(RunLimitRow.scope))
        return [_view(row, parse_scope(row.scope), usage, waiting[row.scope]) for row in rows]


def _view(row: RunLimitRow, scope: LimitScope, usage: Counter[str], waiting: int) -> LimitView:
    by_value: dict[str, int] | None = None
    if scope.per_value:
        prefix = tag_bucket(scope.name, "")
        by_value = {bucket.removeprefix(prefix): n for bucket, n in usage.items() if bucket.startswith(prefix) and n}
        in_use = sum(by_value.values())
    elif scope.kind is LimitKind.TAG and scope.value is not None:
        in_use = usage[tag_bucket(scope.name, scope.value)]
    else:
        in_use = usage[str(scope)]
    return LimitView(
        scope=row.scope,
        max_concurrent=row.max_concurrent,
        in_use=in_use,
        waiting=waiting,
        in_use_by_value=by_value,
        updated_at=row.updated_at,
    )
