"""The audit log: who launched, canceled, re-executed, redeployed or removed, changed a limit, an automation or a
token, and when. Entries are written after the change succeeded and are never edited."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from contracts.api import AuditEntry, AuditList
from controlplane.database import Database
from controlplane.errors import Invalid
from controlplane.tables import AuditRow, storable_text
from controlplane.tokens import Principal

MAX_DETAIL = 2000


class Action(StrEnum):
    """What was done (the `action` of an entry)."""

    run_launched = "run.launched"
    run_canceled = "run.canceled"
    run_reexecuted = "run.reexecuted"
    location_created = "location.created"
    location_redeployed = "location.redeployed"
    location_removed = "location.removed"
    limit_set = "limit.set"
    limit_removed = "limit.removed"
    limits_synced = "limits.synced"
    automation_started = "automation.started"
    automation_stopped = "automation.stopped"
    automation_run_now = "automation.run_now"
    automation_backfill = "automation.backfill"
    token_created = "token.created"
    token_rotated = "token.rotated"
    token_revoked = "token.revoked"
    alert_policy_set = "alert_policy.set"
    alert_policy_removed = "alert_policy.removed"
    alert_policies_synced = "alert_policies.synced"
    alert_policy_tested = "alert_policy.tested"


class AuditStore:
    """Appends entries and pages through them, newest first."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, actor: Principal, action: Action, target: str, detail: str = "") -> None:
        """Append one entry acting as `actor` (never pass a secret in `detail`)."""
        with self._db.write() as db:
            db.add(
                AuditRow(
                    actor_id=actor.token_id,
                    actor_name=actor.name[:100],
                    action=action.value,
                    target=target[:300],
                    detail=storable_text(detail[:MAX_DETAIL]),
                )
            )

    async def note(self, actor: Principal, action: Action, target: str, detail: str = "") -> None:
        """`record` from an async endpoint (the write runs in the thread pool)."""
        await run_in_threadpool(self.record, actor, action, target, detail)

    def list(
        self, *, action: str | None = None, actor: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> AuditList:
        """Entries newest first, optionally of one action (or action prefix ending in '.') and one actor id."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit + 1)
        if action:
            query = query.where(
                AuditRow.action.startswith(action, autoescape=True)
                if action.endswith(".")
                else AuditRow.action == action
            )
        if actor:
            query = query.where(AuditRow.actor_id == actor)
        if cursor is not None:
            # An entry id: digits, within a 64-bit integer (a longer one was not handed out by this API).
            if not cursor.isdigit() or len(cursor) > 18:
                raise Invalid("query parameter cursor: not a cursor this API handed out (use next_cursor)")
            query = query.where(AuditRow.id < int(cursor))
        with self._db.read() as db:
            rows = list(db.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditList(
            entries=[
                AuditEntry(
                    id=row.id,
                    time=row.time,
                    actor_id=row.actor_id,
                    actor_name=row.actor_name,
                    action=row.action,
                    target=row.target,
                    detail=row.detail,
                )
                for row in rows
            ],
            next_cursor=str(rows[-1].id) if more and rows else None,
        )
