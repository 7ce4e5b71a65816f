"""The schema migrations (controlplane/migrations/): at head they build exactly controlplane/tables.py, and a
database of the first release, full of data, is refused by the new control plane until `longshoreman
control-plane migrate` brings it to head with every row intact."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from controlplane import schema
from controlplane.database import Database
from controlplane.location_store import LocationStore
from controlplane.migrations import VERSION_TABLE
from controlplane.secret_env import SecretEnvSealer
from controlplane.tables import Base
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.agent import wait_for
from tests.support.control_plane import ControlPlane, process_env, run_to_exit
from tests.support.database import ADMIN_SECRET, AGENT_SECRET, alembic, first_release_database, snapshot

HEAD = schema.head_revision()

START = [sys.executable, "-m", "controlplane"]
MIGRATE = [sys.executable, "-m", "longshoreman", "control-plane", "migrate"]


def differences(url: str) -> list[Any]:
    """What alembic's autogenerate finds between the database and controlplane/tables.py (empty: identical)."""
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        db.dispose()


def test_the_migrations_at_head_build_exactly_the_tables_of_the_code(fresh_database_url: str):
    alembic(fresh_database_url, command.upgrade, "0001")
    assert differences(fresh_database_url), "at the first release's schema the comparison sees what came since"

    alembic(fresh_database_url, command.upgrade, "head")
    assert differences(fresh_database_url) == []

    # Every revision can be undone, and redone.
    alembic(fresh_database_url, command.downgrade, "base")
    assert set(snapshot(fresh_database_url)) == {VERSION_TABLE}
    alembic(fresh_database_url, command.upgrade, "head")
    assert differences(fresh_database_url) == []


def kept(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The rows of `before` that `after` no longer holds as they were (new columns aside)."""
    lost = []
    for table, rows in before.items():
        for row in rows:
            if not any({column: new[column] for column in row} == row for new in after.get(table, [])):
                lost.append(f"{table}: {row}")
    return lost


def test_a_first_release_database_is_refused_until_migrated_and_then_every_row_is_intact(
    temporal_server: TemporalDevServer, fresh_database_url: str, tmp_path: Path, unique: str
):
    url, queue = fresh_database_url, f"migrated-{unique}"
    first_release_database(url, queue)
    before = snapshot(url)
    env = process_env(temporal_server.address, url)

    refused = run_to_exit(START, env)

    assert refused.returncode != 0
    (line,) = refused.stderr.strip().splitlines()
    assert line == (
        "longshoreman control plane: the database schema is at the first release's schema (revision 0001, not "
        f"recorded), this control plane needs {HEAD}: run `longshoreman control-plane migrate` first"
    )
    assert snapshot(url) == before

    migrated = run_to_exit(MIGRATE, env)

    assert (migrated.returncode, migrated.stderr) == (0, "")
    assert migrated.stdout.strip().endswith(f"from revision 0001 to {HEAD}")
    after = snapshot(url)
    assert kept(before, after) == []
    assert {row["id"]: row["queue"] for row in after["runs"]} == dict.fromkeys(
        ("0000000000aa00000001", "0000000000aa00000002")
    )
    assert differences(url) == []
    assert run_to_exit(MIGRATE, env).stdout.strip().endswith(f"is at revision {HEAD} already: nothing to do")

    # The new release serves the old data, and its new columns work.
    plane = ControlPlane.start(temporal_server.address, tmp_path / "plane", database_url=url, admin_token=ADMIN_SECRET)
    try:
        with plane.client() as api, plane.client(AGENT_SECRET) as old_agent:
            old_run = api.get("/api/runs/0000000000aa00000001").json()
            assert (old_run["status"], old_run["idempotency_key"], old_run["config"]) == (
                "SUCCESS",
                "nightly-1",
                {"n": 1},
            )
            assert [e["type"] for e in api.get(f"/api/runs/{old_run['id']}/events").json()["events"]] == [
                "RUN_START"
            ] * 2
            assert [x["line"] for x in api.get(f"/api/runs/{old_run['id']}/logs").json()["lines"]] == ["hello"] * 2
            location = api.get("/api/locations/old-loc").json()
            assert (location["status"], location["generation"], location["server"]) == ("LOADED", 2, "old-loc-g2-i3")
            assert [e["status"] for e in api.get("/api/locations/old-loc/events").json()["events"]] == [
                "STARTING",
                "LOADED",
            ]
            # A token made before queues existed serves any queue.
            report = {"name": "old-loc", "status": "LOADED", "generation": 2, "seq": 8, "message": "still here"}
            assert old_agent.put("/api/agent/locations/old-loc/report", json=report).json() == {"applied": True}
            # runs.queue and runs.message: a new run keeps its queue, and says no agent polls it.
            new_run = api.post("/api/runs", json={"location": "old-loc", "job": "noop"}).json()["run"]
            assert new_run["queue"] == queue
            waiting = wait_for(
                lambda: api.get(f"/api/runs/{new_run['id']}").json()["message"], 30, "the queued run's message"
            )
            assert waiting == f"waiting for an agent: no agent is polling task queue '{queue}'"
            # tokens.queues and the sessions table.
            scoped = api.post("/api/tokens", json={"kind": "agent", "name": "new-agent", "queues": [queue]}).json()
            assert scoped["queues"] == [queue]
            assert api.post("/api/session", json={"token": ADMIN_SECRET}).status_code == 201
            # tokens.role: a user token made before roles existed is an admin; the audit log starts empty.
            assert {t["kind"]: t["role"] for t in api.get("/api/tokens").json()["tokens"]}["admin"] == "admin"
            assert (
                api.get("/api/audit", params={"action": "token.created"}).json()["entries"][0]["target"]
                == (scoped["id"])
            )
    finally:
        plane.stop()
    # locations.redeploy_lease(_until): one holder at a time.
    db = Database(url)
    try:
        leases = LocationStore(db, SecretEnvSealer(None))
        assert (leases.take_redeploy_lease("old-loc", "a", 30), leases.take_redeploy_lease("old-loc", "b", 30)) == (
            True,
            False,
        )
    finally:
        db.dispose()


def test_a_database_the_development_code_upgraded_before_migrations_existed_ends_at_head(
    temporal_server: TemporalDevServer, fresh_database_url: str
):
    # The code between the first release and migrations added 0002's columns itself, without runs.queue's index.
    alembic(fresh_database_url, command.upgrade, "0002")
    db = Database(fresh_database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_runs_queue"))
            connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    finally:
        db.dispose()
    assert differences(fresh_database_url)

    migrated = run_to_exit(MIGRATE, process_env(temporal_server.address, fresh_database_url))

    assert migrated.returncode == 0, migrated.stderr
    assert differences(fresh_database_url) == []
    assert snapshot(fresh_database_url)[VERSION_TABLE] == [{"version_num": HEAD}]
