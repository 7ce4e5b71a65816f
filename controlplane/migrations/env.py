"""Alembic's environment for the control plane's schema.

`controlplane/schema.py` runs it with a connection of its own (in `config.attributes["connection"]`) whose
transaction holds the migration lock: every revision of one `migrate` commits together, or none does.
Developers run it through the `alembic` command (alembic.ini at the repository root) on the database of
LONGSHOREMAN_DATABASE_URL, e.g. `alembic revision --autogenerate --rev-id 0003 -m "..."`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import URL, Connection

from controlplane.database import Database, database_url
from controlplane.migrations import VERSION_TABLE
from controlplane.settings import ControlPlaneSettings
from controlplane.tables import Base


def run(connection: Connection | None = None, url: URL | None = None) -> None:
    """Run the revisions on `connection`, or write their SQL for `url` (offline)."""
    context.configure(
        connection=connection,
        url=url,
        literal_binds=url is not None,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(connection=given)
elif context.is_offline_mode():
    # `alembic upgrade --sql`: the SQL for a database administrator to review or run.
    run(url=database_url(ControlPlaneSettings().database_url))
else:
    db = Database(ControlPlaneSettings().database_url)
    try:
        with db.engine.connect() as own:
            run(connection=own)
    finally:
        db.dispose()
