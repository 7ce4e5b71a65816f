"""Agents' heartbeats, the note on a location whose queue has no live agent, and a location history ordered by
its reports (a retried report takes its place instead of being dropped).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the agents table and the new columns."""
    op.create_table(
        "agents",
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task_queue", sa.String(length=200), nullable=False),
        sa.Column("launchers", sa.JSON(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("last_seen", Time, nullable=False),
        sa.Column("running_runs", sa.Integer(), nullable=False),
        sa.Column("code_servers", sa.Integer(), nullable=False),
        sa.Column("last_errors", sa.JSON(), nullable=False),
        sa.Column("stopped_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.create_index("ix_agents_last_seen", "agents", ["last_seen"], unique=False)
    op.create_index("ix_agents_task_queue", "agents", ["task_queue"], unique=False)
    op.add_column("location_events", sa.Column("incarnation", sa.Integer(), nullable=True))
    op.add_column("location_events", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("locations", sa.Column("incarnation", sa.Integer(), server_default="0", nullable=False))
    op.add_column("locations", sa.Column("agent_note", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("locations") as locations:
        locations.drop_column("agent_note")
        locations.drop_column("incarnation")
    with op.batch_alter_table("location_events") as events:
        events.drop_column("seq")
        events.drop_column("incarnation")
    op.drop_index("ix_agents_task_queue", table_name="agents")
    op.drop_index("ix_agents_last_seen", table_name="agents")
    op.drop_table("agents")
