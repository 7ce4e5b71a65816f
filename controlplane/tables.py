"""SQLAlchemy tables: tokens, browser sessions, locations and their events, runs with their events and logs.

The schema changes only through a migration in controlplane/migrations/versions/ (tests/controlplane/
test_migrations.py checks that the migrations at head build exactly these tables, on SQLite and PostgreSQL).
"""

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


def storable_text(value: str) -> str:
    """`value` as every supported database stores it: NUL characters, which PostgreSQL's text types cannot hold,
    become U+FFFD (the API already refuses text that is not Unicode, such as lone surrogates)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


class SafeString(TypeDecorator[str]):
    """VARCHAR(n) holding any Python string (see `storable_text`); the API's limits keep values within n."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Make the value storable on every database (queries compare the same way)."""
        return None if value is None else storable_text(value)


class SafeText(SafeString):
    """TEXT holding any Python string (see `storable_text`): log lines, messages, reasons."""

    impl = Text
    # Not inherited: SQLAlchemy reads it from each class itself, and without it caches no statement using the type.
    cache_ok = True


class Base(DeclarativeBase):
    """Declarative base of every control-plane table."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class TokenRow(Base):
    """An API token; only the sha256 of the secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(SafeString(32), primary_key=True)
    kind: Mapped[str] = mapped_column(SafeString(16))
    name: Mapped[str] = mapped_column(SafeString(100))
    token_hash: Mapped[str] = mapped_column(SafeString(64), unique=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int | None] = mapped_column(Integer)
    # Agent tokens: the task queues (glob patterns) they serve; unset on tokens made before queues existed.
    queues: Mapped[list[str] | None] = mapped_column(JSON)
    # User ("admin" kind) tokens: viewer, launcher, editor or admin (contracts/roles.py); unset on other kinds.
    role: Mapped[str | None] = mapped_column(SafeString(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Unset: never expires. Run tokens get one when their run finishes (plus a grace period).
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SessionRow(Base):
    """A browser session (controlplane/sessions.py): only the sha256 of its cookie value is kept."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(SafeString(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LocationRow(Base):
    """A code location: the declared spec plus what the agent last reported."""

    __tablename__ = "locations"

    name: Mapped[str] = mapped_column(SafeString(40), primary_key=True)
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(SafeString(16))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(SafeText, default="")
    definitions: Mapped[dict[str, Any] | None]
    server: Mapped[str | None] = mapped_column(SafeString(200))
    report_seq: Mapped[int] = mapped_column(Integer, default=0)
    workflow_id: Mapped[str] = mapped_column(SafeString(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Counts the times the location was (re)created: each time its workflow's reports are numbered from 1 again.
    incarnation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by the control plane while no live agent serves the location's queue; shown before the report's message.
    agent_note: Mapped[str | None] = mapped_column(SafeText)
    # A redeploy in flight holds this lease (across control-plane replicas): redeploys reach the workflow, and
    # their specs are stored, one at a time and in the same order.
    redeploy_lease: Mapped[str | None] = mapped_column(SafeString(32))
    redeploy_lease_until: Mapped[datetime | None]


class RunRow(Base):
    """One run of one job."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_created", "created_at", "id"),
        # The run queue's order: higher priority first, then first come (controlplane/run_queue.py).
        Index("ix_runs_queue_order", "status", "priority", "created_at"),
    )

    id: Mapped[str] = mapped_column(SafeString(32), primary_key=True)
    location: Mapped[str] = mapped_column(SafeString(40), index=True)
    job: Mapped[str] = mapped_column(SafeString(200), index=True)
    config: Mapped[dict[str, Any]]
    tags: Mapped[dict[str, Any]]
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(SafeString(16), index=True)
    reason: Mapped[str] = mapped_column(SafeText, default="")
    # What the run waits for right now (no agent polling its queue, ...); cleared when its status changes.
    message: Mapped[str | None] = mapped_column(SafeText)
    log_tail: Mapped[str | None] = mapped_column(SafeText)
    # Where the run worker keeps its logs (contracts/compute_logs.py); only the store's URL, never a credential.
    compute_logs: Mapped[dict[str, Any] | None]
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The agent task queue the run's workflow was started on (its location's agent_queue at launch).
    queue: Mapped[str | None] = mapped_column(SafeString(200), index=True)
    # Unique: concurrent launches with one key race on this constraint and exactly one wins.
    idempotency_key: Mapped[str | None] = mapped_column(SafeString(200), unique=True)
    start_timeout_s: Mapped[float] = mapped_column(Float)
    max_runtime_s: Mapped[float | None] = mapped_column(Float)
    retry: Mapped[dict[str, Any]]
    report_seq: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(SafeString(200))
    workflow_id: Mapped[str] = mapped_column(SafeString(64))
    # Its place in the run queue (the priority tag) and the pool its job declared at launch.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pool: Mapped[str | None] = mapped_column(SafeString(100))
    parent_run_id: Mapped[str | None] = mapped_column(SafeString(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the run left the run queue: it took its slots and its workflow is (being) started. Unset: it
    # waits in the queue, and no workflow exists for it.
    dequeued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RunLimitRow(Base):
    """A concurrency limit (contracts/limits.py): at most `max_concurrent` runs of its scope hold a slot."""

    __tablename__ = "run_limits"

    scope: Mapped[str] = mapped_column(SafeString(300), primary_key=True)
    max_concurrent: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunSlotRow(Base):
    """A slot a run holds in one bucket of the limits, from its dequeue until its final status deletes it."""

    __tablename__ = "run_slots"

    bucket: Mapped[str] = mapped_column(SafeString(300), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, index=True)


class RunEventRow(Base):
    """One event of a run; the primary key makes ingest idempotent."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    type: Mapped[str] = mapped_column(SafeString(64))
    message: Mapped[str] = mapped_column(SafeText, default="")


class RunLogRow(Base):
    """One captured stdout/stderr line of a run; the primary key makes ingest idempotent."""

    __tablename__ = "run_logs"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    stream: Mapped[str] = mapped_column(SafeString(8))
    line: Mapped[str] = mapped_column(SafeText)


class LocationEventRow(Base):
    """One status change of a code location, as the agent reported it: the location's history."""

    __tablename__ = "location_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location: Mapped[str] = mapped_column(ForeignKey("locations.name", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(SafeString(16))
    generation: Mapped[int] = mapped_column(Integer)
    server: Mapped[str | None] = mapped_column(SafeString(200))
    message: Mapped[str] = mapped_column(SafeText, default="")
    # The report's place in its workflow chain: a report that arrives late (retried) still takes its place in the
    # history. Unset on events stored before reports were ordered so (they are in arrival order).
    incarnation: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(Integer)


class AgentRow(Base):
    """One agent process, as its latest heartbeat described it."""

    __tablename__ = "agents"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    task_queue: Mapped[str] = mapped_column(String(200), index=True)
    launchers: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)
    running_runs: Mapped[int] = mapped_column(Integer, default=0)
    code_servers: Mapped[int] = mapped_column(Integer, default=0)
    last_errors: Mapped[list[str]] = mapped_column(JSON)
    stopped_at: Mapped[datetime | None]


class AutomationRow(Base):
    """A schedule or sensor of a location: its definition, the status a user set, and what Temporal holds."""

    __tablename__ = "automations"

    location: Mapped[str] = mapped_column(ForeignKey("locations.name", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(100), primary_key=True)
    kind: Mapped[str] = mapped_column(SafeString(16))
    job: Mapped[str] = mapped_column(SafeString(200), default="")
    definition: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(SafeString(16))
    # True once a user started or stopped it: then the definition's default_status no longer applies.
    status_set: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(SafeText)
    temporal_error: Mapped[str | None] = mapped_column(SafeText)
    # No longer in the definitions (or the location is going away): its Temporal side is removed, then the row.
    removed: Mapped[bool] = mapped_column(default=False)
    # A digest of what was last applied to Temporal: a row whose desired digest differs is synced again.
    synced_digest: Mapped[str | None] = mapped_column(SafeString(32))
    cursor: Mapped[str | None] = mapped_column(SafeText)
    last_tick_id: Mapped[str | None] = mapped_column(SafeString(200))
    last_outcome: Mapped[str | None] = mapped_column(SafeString(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TickRow(Base):
    """One evaluation of an automation; only the latest ticks of each are kept."""

    __tablename__ = "ticks"
    __table_args__ = (Index("ix_ticks_automation", "location", "automation", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location: Mapped[str] = mapped_column(SafeString(40))
    automation: Mapped[str] = mapped_column(SafeString(100))
    tick_id: Mapped[str] = mapped_column(SafeString(200), unique=True)
    time: Mapped[datetime]
    scheduled_time: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(SafeString(16))
    reason: Mapped[str | None] = mapped_column(SafeText)
    run_ids: Mapped[list[str]] = mapped_column(JSON)
    cursor: Mapped[str | None] = mapped_column(SafeText)
    backfill_id: Mapped[str | None] = mapped_column(SafeString(32), index=True)


class BackfillRow(Base):
    """A backfill of a schedule over a time range; its progress is the count of its ticks."""

    __tablename__ = "backfills"

    id: Mapped[str] = mapped_column(SafeString(32), primary_key=True)
    location: Mapped[str] = mapped_column(SafeString(40), index=True)
    schedule: Mapped[str] = mapped_column(SafeString(100))
    start: Mapped[datetime]
    end: Mapped[datetime]
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    """Who did what to which thing (controlplane/audit.py): launches, cancels, redeploys, limits, tokens..."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action", "action", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    # The acting token's id and name (kept when the token is deleted: the log outlives it).
    actor_id: Mapped[str] = mapped_column(SafeString(32), index=True)
    actor_name: Mapped[str] = mapped_column(SafeString(100))
    action: Mapped[str] = mapped_column(SafeString(40))
    target: Mapped[str] = mapped_column(SafeString(300))
    detail: Mapped[str] = mapped_column(SafeText, default="")


class AlertPolicyRow(Base):
    """An alert policy (contracts/alerts.py:AlertPolicy) with its channels' secrets sealed."""

    __tablename__ = "alert_policies"

    name: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertEventRow(Base):
    """Something policies may alert on, written in the transaction that saw it happen (an outbox): `id` names the
    occurrence, so seeing it twice stores it once; `dispatched_at` is set once its deliveries were started."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_subject", "kind", "subject"),)

    id: Mapped[str] = mapped_column(SafeString(200), primary_key=True)
    kind: Mapped[str] = mapped_column(SafeString(32))
    subject: Mapped[str] = mapped_column(SafeString(200))
    location: Mapped[str | None] = mapped_column(SafeString(40))
    job: Mapped[str | None] = mapped_column(SafeString(200))
    tags: Mapped[dict[str, Any]]
    since: Mapped[datetime]
    reason: Mapped[str] = mapped_column(SafeText, default="")
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)


class AlertDeliveryRow(Base):
    """One delivery attempt or decision of a (policy, event) on a channel."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_pair", "policy", "event_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy: Mapped[str] = mapped_column(SafeString(64))
    event_id: Mapped[str] = mapped_column(SafeString(200))
    channel: Mapped[str] = mapped_column(SafeString(40))
    attempt: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(SafeString(16))
    error: Mapped[str] = mapped_column(SafeText, default="")
