"""The control plane's schema migrations (Alembic): `env.py`, the revision template and `versions/`.

Revision 0001 is the first release's schema, which that release created without migrations; every later change
of `controlplane/tables.py` is a revision here. `controlplane/schema.py` applies them.
"""

from __future__ import annotations

from pathlib import Path

# Alembic's own table, named for us: a database shared with another application's Alembic keeps both apart.
VERSION_TABLE = "longshoreman_schema_version"
# The first release's schema: what a database made before migrations existed is at.
BASELINE = "0001"
SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
