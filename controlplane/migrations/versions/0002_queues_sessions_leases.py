"""Agent tokens bound to task queues, runs that keep their queue and waiting message, browser sessions, and the
redeploy lease shared by control-plane replicas.

Before migrations existed, the development code after the first release created the `sessions` table and added
these columns itself (without the index on runs.queue when it added the column): on such a database the
steps already done are skipped, so it ends at exactly this revision's schema too.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def _new_columns() -> list[tuple[str, sa.Column[object]]]:
    return [
        ("tokens", sa.Column("queues", sa.JSON(), nullable=True)),
        ("locations", sa.Column("redeploy_lease", sa.String(length=32), nullable=True)),
        ("locations", sa.Column("redeploy_lease_until", Time, nullable=True)),
        ("runs", sa.Column("message", sa.Text(), nullable=True)),
        ("runs", sa.Column("queue", sa.String(length=200), nullable=True)),
    ]


def _has_table(name: str) -> bool:
    # Offline (`alembic upgrade --sql`) there is no database to look at: the SQL is for a first-release one.
    return not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table(name)


def _has_column(table: str, name: str) -> bool:
    columns = [] if context.is_offline_mode() else sa.inspect(op.get_bind()).get_columns(table)
    return any(column["name"] == name for column in columns)


def _has_index(table: str, name: str) -> bool:
    indexes = [] if context.is_offline_mode() else sa.inspect(op.get_bind()).get_indexes(table)
    return any(index["name"] == name for index in indexes)


def upgrade() -> None:
    """Add the columns, the sessions table and their indexes (those the database lacks)."""
    if not _has_table("sessions"):
        op.create_table(
            "sessions",
            sa.Column("id_hash", sa.String(length=64), nullable=False),
            sa.Column("token_id", sa.String(length=32), nullable=False),
            sa.Column("csrf_token", sa.String(length=64), nullable=False),
            sa.Column("created_at", Time, nullable=False),
            sa.Column("expires_at", Time, nullable=False),
            sa.ForeignKeyConstraint(["token_id"], ["tokens.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id_hash"),
        )
    for index, indexed in (("ix_sessions_expires_at", "expires_at"), ("ix_sessions_token_id", "token_id")):
        if not _has_index("sessions", index):
            op.create_index(index, "sessions", [indexed])
    for table, column in _new_columns():
        if not _has_column(table, column.name):
            op.add_column(table, column)
    if not _has_index("runs", "ix_runs_queue"):
        op.create_index("ix_runs_queue", "runs", ["queue"])


def downgrade() -> None:
    """Back to the first release's schema (agent tokens then serve every queue again; sessions are lost)."""
    op.drop_index("ix_runs_queue", table_name="runs")
    for table, column in reversed(_new_columns()):
        op.drop_column(table, column.name)
    op.drop_index("ix_sessions_token_id", table_name="sessions")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sessions")
