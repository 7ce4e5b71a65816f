"""Finished runs announced to every control-plane replica: on PostgreSQL the transaction that stores a run's final
status sends a NOTIFY, and each replica LISTENs and wakes its own `GET /api/runs/{id}/wait` requests at once.

A notice lost while a listener reconnects costs nothing but time: waits also re-read their run every
`RUN_WAIT_RECHECK_S` (on SQLite that re-read is how another process's final statuses are seen).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.database import Database, postgres_connect_args
from controlplane.run_waiters import RunWaiters

log = logging.getLogger(__name__)

CHANNEL = "longshoreman_run_finished"
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0


def announce_finished(session: Session, run_id: str) -> None:
    """Tell every replica that `run_id` is final, once this transaction commits (PostgreSQL; nothing on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, run_id)))


class FinishedRunListener:
    """One LISTEN connection per control plane (PostgreSQL only), reconnecting with backoff when it breaks."""

    def __init__(self, db: Database, waiters: RunWaiters) -> None:
        self._conninfo = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._shown = db.url.render_as_string(hide_password=True)
        self._waiters = waiters

    async def run_forever(self) -> None:
        """Listen until cancelled."""
        import psycopg  # only installed with the postgres extra

        delay = RECONNECT_MIN_S
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **postgres_connect_args()
                )
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    delay = RECONNECT_MIN_S
                    async for notice in connection.notifies():
                        self._waiters.finished(notice.payload)
            except (psycopg.Error, OSError) as err:
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                log.warning(
                    "not listening for finished runs on %s (%s); retrying in %.1f s (waits re-read their runs)",
                    self._shown,
                    first,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
