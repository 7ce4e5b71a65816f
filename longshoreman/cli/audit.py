"""`longshoreman audit list`: who launched, canceled, redeployed, changed a limit, an automation or a token."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from contracts.api import AuditList
from longshoreman.cli.api_client import connect
from longshoreman.cli.render import console, print_json, short_when

app = typer.Typer(help="The audit log: who did what, newest first.", no_args_is_help=True)


@app.command("list")
def list_(
    action: Annotated[
        str | None, typer.Option(help="Only this action (run.launched), or a prefix ending in '.' (token.).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only what the token of this id did.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many entries.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False,
) -> None:
    """List audit entries, newest first."""
    filters = {key: value for key, value in (("action", action), ("actor", actor)) if value}
    with connect() as client:
        entries = client.get("/api/audit", AuditList, limit=limit, **filters)
    if as_json:
        print_json(entries)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("TIME", "WHO", "ACTION", "TARGET"):
        table.add_column(column, no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for entry in entries.entries:
        who = f"{entry.actor_name} ({entry.actor_id})"
        table.add_row(short_when(entry.time), escape(who), entry.action, escape(entry.target), escape(entry.detail))
    console.print(table)
