"""Where a run's compute logs are kept when they stay in the user's storage (only the store's URL).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add runs.compute_logs."""
    op.add_column("runs", sa.Column("compute_logs", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop runs.compute_logs."""
    op.drop_column("runs", "compute_logs")
