"""Automations (the schedules and sensors of every location), their ticks and their backfills.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the automations, ticks and backfills tables."""
    op.create_table(
        "automations",
        sa.Column("location", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_set", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("temporal_error", sa.Text(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("synced_digest", sa.String(length=32), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("last_tick_id", sa.String(length=200), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["location"], ["locations.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("location", "name"),
    )
    op.create_table(
        "ticks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("location", sa.String(length=40), nullable=False),
        sa.Column("automation", sa.String(length=100), nullable=False),
        sa.Column("tick_id", sa.String(length=200), nullable=False),
        sa.Column("time", Time, nullable=False),
        sa.Column("scheduled_time", Time, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("run_ids", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("backfill_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tick_id"),
    )
    op.create_index("ix_ticks_automation", "ticks", ["location", "automation", "id"], unique=False)
    op.create_index(op.f("ix_ticks_backfill_id"), "ticks", ["backfill_id"], unique=False)
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=40), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("start", Time, nullable=False),
        sa.Column("end", Time, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_backfills_location"), "backfills", ["location"], unique=False)


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index(op.f("ix_backfills_location"), table_name="backfills")
    op.drop_table("backfills")
    op.drop_index(op.f("ix_ticks_backfill_id"), table_name="ticks")
    op.drop_index("ix_ticks_automation", table_name="ticks")
    op.drop_table("ticks")
    op.drop_table("automations")
