"""The run queue: concurrency limits, the slots runs hold under them, each run's priority, pool and time it left
the queue, and re-executions linked to their parent run.

Every run stored before the queue existed had its workflow started at launch: it left the queue when it was
created (`dequeued_at = created_at`), and holds no slot (no limits existed).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the limits and slots tables and the runs' new columns."""
    op.create_table(
        "run_limits",
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "run_slots",
        sa.Column("bucket", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bucket", "run_id"),
    )
    op.create_index("ix_run_slots_run_id", "run_slots", ["run_id"], unique=False)
    op.add_column("runs", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("runs", sa.Column("pool", sa.String(length=100), nullable=True))
    op.add_column("runs", sa.Column("parent_run_id", sa.String(length=32), nullable=True))
    op.add_column("runs", sa.Column("dequeued_at", Time, nullable=True))
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"], unique=False)
    op.create_index("ix_runs_queue_order", "runs", ["status", "priority", "created_at"], unique=False)
    op.execute("UPDATE runs SET dequeued_at = created_at")


def downgrade() -> None:
    """Drop them again (waiting runs then look started to the older release: cancel them first)."""
    op.drop_index("ix_runs_queue_order", table_name="runs")
    op.drop_index("ix_runs_parent_run_id", table_name="runs")
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("dequeued_at")
        runs.drop_column("parent_run_id")
        runs.drop_column("pool")
        runs.drop_column("priority")
    op.drop_index("ix_run_slots_run_id", table_name="run_slots")
    op.drop_table("run_slots")
    op.drop_table("run_limits")
