"""The one writer of a run's stored status: the run protocol's transition table and what goes with each move.

Every path that changes a run's status comes here (agent reports, the attempt's token request, the run
worker's RUN_START event, a cancel, the reconciliation of a closed workflow, a queued timeout), so the
rules — terminal stays terminal, CANCELING only ends, an older attempt's news is old — and the timestamps
and token expiry that go with a move are applied the same way whoever writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from contracts.run_protocol import RunStatus
from controlplane.alerts import outbox
from controlplane.database import signal_on_commit
from controlplane.run_notices import announce_finished
from controlplane.tables import RunRow, RunSlotRow, TokenRow

# Raised (after commit) by a transaction that freed slots of the run queue: the process dequeues at once.
SLOTS_FREED = "slots_freed"

# Moving into STARTING from a live status means a new attempt: only a higher attempt number may do it.
_NEW_ATTEMPT_FROM = frozenset({RunStatus.STARTING, RunStatus.STARTED})


@dataclass(frozen=True)
class Move:
    """A requested change of one run."""

    status: RunStatus
    attempt: int | None = None  # the attempt the news is about; None: the run as a whole
    reason: str | None = None  # replaces the stored reason when set
    log_tail: str | None = None  # kept with a failure when set


def advance(session: Session, row: RunRow, move: Move, *, now: datetime, token_grace: timedelta) -> bool:
    """Apply `move` to `row` if the run protocol allows it; True if applied (the caller's transaction commits)."""
    current = RunStatus(row.status)
    if not current.may_become(move.status):
        return False
    if move.attempt is not None:
        if move.attempt < row.attempt:
            return False  # news about an attempt that has been superseded
        if move.status is RunStatus.STARTING and current in _NEW_ATTEMPT_FROM and move.attempt <= row.attempt:
            return False  # the same attempt starting again (a retried token request): nothing new
        row.attempt = move.attempt
    row.status = move.status
    row.message = ""  # what the run waited for is over once its status changes
    if move.reason is not None:
        row.reason = move.reason
    if move.log_tail:
        row.log_tail = move.log_tail
    if move.status is RunStatus.STARTED:
        record_started(row, now)
    if move.status.is_terminal:
        row.finished_at = now
        # A finished run's workers need their tokens only to deliver their last events: not for long.
        session.execute(
            update(TokenRow)
            .where(TokenRow.run_id == row.id, TokenRow.expires_at.is_(None))
            .values(expires_at=now + token_grace)
        )
        announce_finished(session, row.id)
        free_slots(session, row.id)
    # In this transaction: the alert is stored exactly when the move is (controlplane/alerts/outbox.py).
    outbox.run_moved(session, row, current, now)
    return True


def free_slots(session: Session, run_id: str) -> None:
    """The run is final: its slots go in the same transaction (whatever ended it), so none can leak."""
    result: Any = session.execute(delete(RunSlotRow).where(RunSlotRow.run_id == run_id))
    if result.rowcount:
        signal_on_commit(session, SLOTS_FREED)


def record_started(row: RunRow, now: datetime) -> None:
    """The run got as far as running: the first time it did is its started_at (whatever its status now)."""
    if row.started_at is None:
        row.started_at = now
