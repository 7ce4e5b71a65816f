"""Control-plane databases seen from outside the control plane (SQLite or PostgreSQL): what one holds, for tests
that check what was stored or that nothing was; alembic steps; a database as the first release left it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, insert, select, text

from controlplane import schema
from controlplane.database import Database, database_url
from controlplane.migrations import VERSION_TABLE


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table of the database with all its rows by column name (sorted: two snapshots compare equal when
    nothing changed)."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            tables = MetaData()
            tables.reflect(connection)
            return {
                name: sorted((dict(row._mapping) for row in connection.execute(select(table))), key=repr)
                for name, table in sorted(tables.tables.items())
            }
    finally:
        engine.dispose()


def database_text(url: str) -> str:
    """Everything the database holds, as text (one line per row)."""
    return "\n".join(f"{table}: {row!r}" for table, rows in snapshot(url).items() for row in rows)


def alembic(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    """Run an alembic command (upgrade, downgrade) to `revision` on the database, in one transaction."""
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            step(schema.alembic_config(connection), revision)
    finally:
        db.dispose()


ADMIN_SECRET = "first-release-admin-token"
AGENT_SECRET = "first-release-agent-token"


def first_release_database(url: str, queue: str) -> None:
    """A database as the first release left it (its schema, no revision recorded) with rows in every table."""
    alembic(url, command.upgrade, "0001")
    db = Database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    spec = {"name": "old-loc", "module": "examples.hello.definitions", "agent_queue": queue}
    request = {"location": "old-loc", "job": "noop", "config": {"n": 1}, "tags": {"team": "data"}}
    retry = {"max_attempts": 1, "backoff_s": 2.0}
    try:
        with db.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
            tables = MetaData()
            tables.reflect(connection)
            t = tables.tables
            connection.execute(
                insert(t["locations"]),
                [
                    {
                        "name": "old-loc",
                        "spec": spec,
                        "status": "LOADED",
                        "generation": 2,
                        "message": "",
                        "definitions": {"jobs": [{"name": "noop", "description": "", "config_schema": {}}]},
                        "server": "old-loc-g2-i3",
                        "report_seq": 7,
                        "workflow_id": "location:old-loc",
                        "created_at": now - timedelta(days=3),
                        "updated_at": now - timedelta(days=1),
                    }
                ],
            )
            connection.execute(
                insert(t["location_events"]),
                [
                    {
                        "location": "old-loc",
                        "time": now - timedelta(days=2),
                        "status": status,
                        "generation": 1,
                        "server": "old-loc-g1-i1",
                        "message": message,
                    }
                    for status, message in (("STARTING", ""), ("LOADED", "serving 1 job"))
                ],
            )
            connection.execute(
                insert(t["runs"]),
                [
                    {
                        "id": run_id,
                        "location": "old-loc",
                        "job": "noop",
                        "config": {"n": 1},
                        "tags": {"team": "data"},
                        "request": request,
                        "status": status,
                        "reason": reason,
                        "log_tail": None,
                        "attempt": 1,
                        "idempotency_key": key,
                        "start_timeout_s": 120.0,
                        "max_runtime_s": None,
                        "retry": retry,
                        "report_seq": 3,
                        "worker": f"run-{run_id}-a1",
                        "workflow_id": f"run:{run_id}",
                        "created_at": now - timedelta(hours=2),
                        "started_at": now - timedelta(hours=2),
                        "finished_at": now - timedelta(hours=1) if status == "SUCCESS" else None,
                    }
                    for run_id, status, reason, key in (
                        ("0000000000aa00000001", "SUCCESS", "", "nightly-1"),
                        ("0000000000aa00000002", "FAILURE", "job failed: ValueError: boom (exit code 1)", None),
                    )
                ],
            )
            for table, extra in (
                ("run_events", {"type": "RUN_START", "message": "hi"}),
                ("run_logs", {"stream": "stdout", "line": "hello"}),
            ):
                connection.execute(
                    insert(t[table]),
                    [
                        {
                            "run_id": "0000000000aa00000001",
                            "attempt": 1,
                            "seq": seq,
                            "time": now - timedelta(hours=1),
                            **extra,
                        }
                        for seq in (1, 2)
                    ],
                )
            connection.execute(
                insert(t["tokens"]),
                [
                    {
                        "id": token_id,
                        "kind": kind,
                        "name": name,
                        "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
                        "run_id": run_id,
                        "attempt": 1 if run_id else None,
                        "created_at": now - timedelta(days=3),
                        "expires_at": None,
                        "revoked_at": None,
                    }
                    for token_id, kind, name, secret, run_id in (
                        ("a000000000000001", "admin", "bootstrap", ADMIN_SECRET, None),
                        ("a000000000000002", "agent", "old-agent", AGENT_SECRET, None),
                        ("a000000000000003", "run", "run 1", "a-run-token", "0000000000aa00000001"),
                    )
                ],
            )
    finally:
        db.dispose()
