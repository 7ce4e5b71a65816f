"""Alerts: policies, the events outbox, delivery records; the default policy of a new deployment.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)
# contracts/alerts.py:DEFAULT_POLICY, spelled out: a revision must not change when the code does.
DEFAULT_POLICY = {
    "name": "long-running-runs",
    "description": "A run longer than 24 hours (made on the first start; add a channel to hear of it).",
    "enabled": True,
    "events": ["run_long_running"],
    "thresholds": {
        "run_long_running_s": 86400.0,
        "run_queued_s": 600.0,
        "location_unhealthy_s": 60.0,
        "agent_unavailable_s": 60.0,
    },
    "notify_recovery": True,
    "filters": {"locations": [], "jobs": [], "tags": {}},
    "channels": [],
}


def upgrade() -> None:
    """Add the three alert tables and the default policy."""
    policies = op.create_table(
        "alert_policies",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=40), nullable=True),
        sa.Column("job", sa.String(length=200), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("since", Time, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("dispatched_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_events_subject", "alert_events", ["kind", "subject"], unique=False)
    op.create_index(op.f("ix_alert_events_dispatched_at"), "alert_events", ["dispatched_at"], unique=False)
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("time", Time, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_deliveries_pair", "alert_deliveries", ["policy", "event_id", "channel"], unique=False)
    op.create_index(op.f("ix_alert_deliveries_time"), "alert_deliveries", ["time"], unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(
        policies, [{"name": DEFAULT_POLICY["name"], "spec": DEFAULT_POLICY, "created_at": now, "updated_at": now}]
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index(op.f("ix_alert_deliveries_time"), table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_pair", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index(op.f("ix_alert_events_dispatched_at"), table_name="alert_events")
    op.drop_index("ix_alert_events_subject", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_policies")
