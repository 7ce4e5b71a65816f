"""The start-up check of the database and `longshoreman control-plane migrate` on bad input: one readable line,
a non-zero exit, nothing written (controlplane/schema.py, controlplane/database.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from controlplane import schema
from controlplane.database import Database
from controlplane.migrations import VERSION_TABLE
from longshoreman.dev.temporal_server import TemporalDevServer, free_port
from tests.support.control_plane import process_env, run_to_exit
from tests.support.database import snapshot

START = [sys.executable, "-m", "controlplane"]
MIGRATE = [sys.executable, "-m", "longshoreman", "control-plane", "migrate"]
NEWER = "0099"


def test_a_database_a_newer_release_migrated_is_refused_and_left_untouched(
    temporal_server: TemporalDevServer, fresh_database_url: str
):
    db = Database(fresh_database_url)
    try:
        schema.migrate(db)
        with db.engine.begin() as connection:
            connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '{NEWER}'"))
    finally:
        db.dispose()
    before = snapshot(fresh_database_url)
    env = process_env(temporal_server.address, fresh_database_url)

    started, migrated = run_to_exit(START, env), run_to_exit(MIGRATE, env)

    assert started.returncode != 0
    assert started.stderr.strip().splitlines() == [
        f"longshoreman control plane: the database schema is at revision '{NEWER}', which this control plane does "
        f"not know (its newest is {schema.head_revision()}): a newer Longshoreman migrated it; run that release or a "
        "later one"
    ]
    assert migrated.returncode != 0
    (line,) = migrated.stderr.strip().splitlines()
    assert line.startswith(f"error: the database schema is at revision '{NEWER}', which this control plane does not")
    assert snapshot(fresh_database_url) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite+nope:///{tmp}/cp.db", "unknown database driver 'sqlite+nope' in the database URL"),
        ("mysql://admin:s3cret@127.0.0.1/longshoreman", "unknown database driver 'mysql' in the database URL"),
        ("postgresql+psycopg2://admin:s3cret@127.0.0.1/db", "unknown PostgreSQL driver 'psycopg2' in the database URL"),
        ("not a url", "the database URL is not a URL"),
    ],
)
def test_a_database_url_with_an_unknown_driver_is_one_line_and_creates_nothing(
    temporal_server: TemporalDevServer, tmp_path: Path, url: str, message: str
):
    env = process_env(temporal_server.address, url.format(tmp=tmp_path))

    started, migrated = run_to_exit(START, env), run_to_exit(MIGRATE, env)

    assert started.returncode != 0
    (start_line,) = started.stderr.strip().splitlines()
    assert start_line.startswith(f"longshoreman control plane: invalid configuration: {message}")
    assert migrated.returncode != 0
    (line,) = migrated.stderr.strip().splitlines()
    assert line.startswith(f"error: invalid configuration: {message}")
    for output in (started.stdout, started.stderr, migrated.stdout, migrated.stderr):
        assert "s3cret" not in output
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_postgresql_is_one_line_without_its_password(temporal_server: TemporalDevServer):
    port = free_port()  # nothing listens there
    env = process_env(temporal_server.address, f"postgresql://admin:s3cret@127.0.0.1:{port}/longshoreman")

    started, migrated = run_to_exit(START, env), run_to_exit(MIGRATE, env)

    shown = f"postgresql+psycopg://admin:***@127.0.0.1:{port}/longshoreman"
    (start_line,) = started.stderr.strip().splitlines()
    assert start_line.startswith(f"longshoreman control plane: cannot use the database at {shown}: connection")
    (migrate_line,) = migrated.stderr.strip().splitlines()
    assert migrate_line.startswith(f"error: cannot use the database at {shown}: connection")
    assert (started.returncode != 0, migrated.returncode != 0) == (True, True)
    assert "s3cret" not in started.stderr + migrated.stderr
