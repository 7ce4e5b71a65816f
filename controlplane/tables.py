"""SQLAlchemy tables: tokens, locations, runs, run events and run logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns aware datetimes (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every control-plane table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class TokenRow(Base):
    """An API token; only the sha256 of the secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Unset: never expires. Run tokens get one when their run finishes (plus a grace period).
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LocationRow(Base):
    """A code location: the declared spec plus what the agent last reported."""

    __tablename__ = "locations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(Text, default="")
    definitions: Mapped[dict[str, Any] | None]
    server: Mapped[str | None] = mapped_column(String(200))
    report_seq: Mapped[int] = mapped_column(Integer, default=0)
    workflow_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunRow(Base):
    """One run of one job."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    location: Mapped[str] = mapped_column(String(40), index=True)
    job: Mapped[str] = mapped_column(String(200), index=True)
    config: Mapped[dict[str, Any]]
    tags: Mapped[dict[str, Any]]
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    log_tail: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # Unique: concurrent launches with one key race on this constraint and exactly one wins.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    start_timeout_s: Mapped[float] = mapped_column(Float)
    max_runtime_s: Mapped[float | None] = mapped_column(Float)
    retry: Mapped[dict[str, Any]]
    report_seq: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RunEventRow(Base):
    """One event of a run; the primary key makes ingest idempotent."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")


class RunLogRow(Base):
    """One captured stdout/stderr line of a run; the primary key makes ingest idempotent."""

    __tablename__ = "run_logs"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    stream: Mapped[str] = mapped_column(String(8))
    line: Mapped[str] = mapped_column(Text)


class LocationEventRow(Base):
    """One status change of a code location, as the agent reported it: the location's history."""

    __tablename__ = "location_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location: Mapped[str] = mapped_column(ForeignKey("locations.name", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer)
    server: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
