"""Engine and sessions: one short transaction per unit of work, on SQLite or PostgreSQL.

SQLite is tuned for concurrent writers (WAL, BEGIN IMMEDIATE for writes). On PostgreSQL a write that reads a
row before changing it locks that row first (`lock_row`): replicas of the control plane share one database.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option that marks a write transaction, so SQLite takes the write lock up front.
IMMEDIATE = "longshoreman_immediate"
POSTGRES_DRIVER = "psycopg"
# Seconds a new PostgreSQL connection may take: an unreachable server fails the start instead of hanging it.
POSTGRES_CONNECT_TIMEOUT_S = 10
# Connections older than this are replaced: proxies and firewalls drop long-idle ones silently.
POOL_RECYCLE_S = 1800
APPLICATION_NAME = "longshoreman-control-plane"
EXAMPLE_URLS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

Row = TypeVar("Row")
# Session.info key: the signals a write transaction raises once it has committed (`signal_on_commit`).
_SIGNALS = "longshoreman_signals"


class DatabaseConfigError(ValueError):
    """A database URL the control plane cannot use; the message is one readable line."""


def database_url(raw: str) -> URL:
    """The SQLAlchemy URL for a configured database URL; DatabaseConfigError if it is not one we can use.

    `postgresql://` and `postgres://` mean PostgreSQL through psycopg 3 (`postgresql+psycopg://`).
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise DatabaseConfigError(f"the database URL is not a URL (expected {EXAMPLE_URLS})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":  # the spelling of Heroku-style URLs
        backend = "postgresql"
    if backend == "sqlite" and url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url
    if backend == "postgresql" and url.drivername in ("postgres", "postgresql", f"postgresql+{POSTGRES_DRIVER}"):
        if importlib.util.find_spec(POSTGRES_DRIVER) is None:
            raise DatabaseConfigError(
                "the PostgreSQL driver (psycopg 3) is not installed: pip install 'longshoreman[postgres]'"
            )
        return url.set(drivername=f"postgresql+{POSTGRES_DRIVER}")
    if backend == "postgresql":
        raise DatabaseConfigError(
            f"unknown PostgreSQL driver '{driver}' in the database URL: Longshoreman uses psycopg 3, "
            f"postgresql:// (or postgresql+{POSTGRES_DRIVER}://) with pip install 'longshoreman[postgres]'"
        )
    raise DatabaseConfigError(
        f"unknown database driver '{url.drivername}' in the database URL: Longshoreman runs on SQLite and "
        f"PostgreSQL ({EXAMPLE_URLS})"
    )


def shown(url: URL) -> str:
    """The URL as it may appear in a message or a log: never its password."""
    return url.render_as_string(hide_password=True)


def describe_error(url: URL, err: SQLAlchemyError) -> str:
    """One line for a database that cannot be used: which one (no password), and the driver's first line."""
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return f"cannot use the database at {shown(url)}: {lines[0] if lines else type(err).__name__}"


def _sqlite_file(url: URL) -> Path | None:
    if url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


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
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def postgres_connect_args() -> dict[str, Any]:
    """libpq options of every connection the control plane opens to PostgreSQL (pool and listener)."""
    return {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME}


def make_engine(url: URL, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine for a URL from `database_url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.get_backend_name() == "postgresql":
        # Each replica holds up to pool_size + max_overflow connections (plus one listener): size PostgreSQL's
        # max_connections for all replicas. pre_ping replaces connections a database restart has cut.
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            pool_recycle=POOL_RECYCLE_S,
            connect_args=postgres_connect_args(),
        )
    path = _sqlite_file(url)
    if path is None:
        # One shared in-memory database for every thread.
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=pool_size, max_overflow=max_overflow
        )
    _configure_sqlite(engine)
    return engine


def lock_row(session: Session, table: type[Row], key: Any) -> Row | None:
    """The row with primary key `key`, locked until the transaction ends (PostgreSQL; SQLite's write
    transactions hold the whole database already), or None.

    FOR NO KEY UPDATE: a concurrent insert of rows that reference this one (events, logs, tokens) does not
    conflict with it, so ingest and reports never deadlock.
    """
    return session.get(table, key, with_for_update={"key_share": True})


def signal_on_commit(session: Session, signal: str) -> None:
    """Raise `signal` to the Database's listeners once this write transaction has committed (never if it rolls
    back): what a change means for the rest of the process (slots freed: dequeue) follows the change itself."""
    session.info.setdefault(_SIGNALS, set()).add(signal)


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str | URL, pool_size: int = 10, max_overflow: int = 20) -> None:
        self.url = database_url(url) if isinstance(url, str) else url
        self.engine = make_engine(self.url, pool_size, max_overflow)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self.engine, expire_on_commit=False, execution_options={IMMEDIATE: True})
        self._listeners: dict[str, list[Callable[[], None]]] = {}

    def listen(self, signal: str, callback: Callable[[], None]) -> None:
        """Call `callback` (on the committing thread) after each write transaction that raised `signal`."""
        self._listeners.setdefault(signal, []).append(callback)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks, LISTEN/NOTIFY), False on SQLite."""
        return self.url.get_backend_name() == "postgresql"

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
        for signal in session.info.pop(_SIGNALS, ()):
            for callback in self._listeners.get(signal, ()):
                callback()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
