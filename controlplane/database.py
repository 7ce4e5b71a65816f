"""Engine and sessions: one short transaction per unit of work, SQLite tuned for concurrent writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from controlplane.tables import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option that marks a write transaction, so SQLite takes the write lock up front.
_IMMEDIATE = "longshoreman_immediate"


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes cannot wait for the lock in WAL mode (SQLITE_BUSY at once);
        # BEGIN IMMEDIATE makes concurrent writers queue on busy_timeout instead. Readers stay deferred.
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL, foreign keys and a busy timeout."""
    backend = make_url(url).get_backend_name()
    if backend != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    path = _sqlite_file(url)
    if path is None:
        # One shared in-memory database for every thread.
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=10, max_overflow=20)
    _configure_sqlite(engine)
    return engine


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self.engine, expire_on_commit=False, execution_options={_IMMEDIATE: True})

    def create_schema(self) -> None:
        """Create missing tables and add missing nullable columns to existing ones (idempotent)."""
        Base.metadata.create_all(self.engine)
        # The one kind of migration so far: new nullable columns (e.g. tokens.expires_at, tokens.revoked_at).
        existing = inspect(self.engine)
        with self.engine.begin() as connection:
            for table in Base.metadata.sorted_tables:
                present = {column["name"] for column in existing.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present and column.nullable:
                        kind = column.type.compile(dialect=self.engine.dialect)
                        connection.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction."""
        with self._reads.begin() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back entirely on any error."""
        with self._writes.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
