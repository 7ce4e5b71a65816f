"""The database's schema revision: checked at every start, brought to head by `longshoreman control-plane migrate`.

- An empty database is created at head when the control plane starts: there is nothing to lose, and the dev
  stack, docker compose and a first production start need no extra step.
- A database at an older revision (also one the first release made, which records none) is never changed by a
  start: the control plane refuses, naming the migrate command. Migrating is the operator's step (a backup
  first, replicas of the old release stopped).
- A database at a revision this code does not know (a newer release migrated it) is refused by the start and
  by migrate alike, and nothing is written.

Each check and each migration is one transaction holding the migration lock (PostgreSQL: an advisory lock;
SQLite: the write lock), so replicas starting together and a concurrent migrate never interleave. DDL is
transactional on both databases: a migration that fails leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from controlplane.database import IMMEDIATE, Database
from controlplane.migrations import BASELINE, SCRIPT_LOCATION, VERSION_TABLE
from controlplane.tables import Base

MIGRATE_COMMAND = "longshoreman control-plane migrate"
# pg_advisory_xact_lock key of schema changes: any fixed number no other user of the database takes.
MIGRATION_LOCK_KEY = 0x4C6F6E6773686F72  # "Longshor"
# The tables the first release created (revision BASELINE, recorded nowhere in such a database).
BASELINE_TABLES = frozenset({"tokens", "locations", "location_events", "runs", "run_events", "run_logs"})


class SchemaError(Exception):
    """The database's schema does not fit this control plane; the message is one readable line."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands relative to this code."""

    revision: str | None  # as recorded; None: nothing recorded
    has_tables: bool  # any of the control plane's tables exist
    head: str
    known: frozenset[str]

    @property
    def empty(self) -> bool:
        """Nothing of the control plane is there yet."""
        return self.revision is None and not self.has_tables

    @property
    def effective(self) -> str | None:
        """The revision the schema is at: a first-release database records none but is at BASELINE."""
        return self.revision if self.revision is not None or not self.has_tables else BASELINE

    @property
    def current(self) -> bool:
        """At this code's head."""
        return self.revision == self.head

    def refusal(self) -> str | None:
        """Why a control plane of this code must not serve this database, or None."""
        if self.empty or self.current:
            return None
        if self.revision is not None and self.revision not in self.known:
            return (
                f"the database schema is at revision '{self.revision}', which this control plane does not know "
                f"(its newest is {self.head}): a newer Longshoreman migrated it; run that release or a later one"
            )
        at = (
            f"revision {self.revision}"
            if self.revision is not None
            else f"the first release's schema (revision {BASELINE}, not recorded)"
        )
        return f"the database schema is at {at}, this control plane needs {self.head}: run `{MIGRATE_COMMAND}` first"


@dataclass(frozen=True)
class Migrated:
    """What `migrate` did."""

    before: str | None  # None: the database was empty
    after: str

    @property
    def changed(self) -> bool:
        """False if the database was at head already."""
        return self.before != self.after


def _script() -> ScriptDirectory:
    return ScriptDirectory(SCRIPT_LOCATION)


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _script().get_current_head()
    assert head is not None, "controlplane/migrations/versions holds no revision"
    return head


def alembic_config(connection: Connection) -> Config:
    """Alembic configuration that runs revisions on `connection` (in its transaction)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def _state(connection: Connection) -> SchemaState:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    heads = context.get_current_heads()
    if len(heads) > 1:
        raise SchemaError(f"the database records several schema revisions ({', '.join(heads)}); fix it by hand")
    script = _script()
    return SchemaState(
        revision=heads[0] if heads else None,
        has_tables=bool(set(inspect(connection).get_table_names()) & set(Base.metadata.tables)),
        head=head_revision(),
        known=frozenset(revision.revision for revision in script.walk_revisions()),
    )


@contextmanager
def _locked(db: Database) -> Iterator[Connection]:
    """A connection in one transaction that holds the migration lock; committed if the block succeeds."""
    with db.engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})  # SQLite: BEGIN IMMEDIATE, the write lock
        with connection.begin():
            if db.is_postgres:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            yield connection


def prepare(db: Database) -> bool:
    """At start: create an empty database's schema at head (True), accept one at head (False), refuse any other
    with SchemaError."""
    with _locked(db) as connection:
        found = _state(connection)
        if found.empty:
            command.upgrade(alembic_config(connection), "head")
            return True
        refusal = found.refusal()
        if refusal is not None:
            raise SchemaError(refusal)
        return False


def migrate(db: Database) -> Migrated:
    """Bring the schema to head (a first-release database is recorded at BASELINE first); SchemaError, and
    nothing written, for a database this code cannot migrate."""
    with _locked(db) as connection:
        found = _state(connection)
        if found.revision is not None and found.revision not in found.known:
            raise SchemaError(found.refusal())
        config = alembic_config(connection)
        if found.revision is None and found.has_tables:
            missing = BASELINE_TABLES - set(inspect(connection).get_table_names())
            if missing:
                raise SchemaError(
                    "the database holds some of the control plane's tables but records no schema revision, and "
                    f"lacks {', '.join(sorted(missing))} of the first release's: it cannot be migrated automatically"
                )
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        return Migrated(before=found.effective, after=found.head)
