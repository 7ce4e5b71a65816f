"""`longshoreman control-plane` (run the control plane) and `longshoreman control-plane migrate` (its database)."""

from __future__ import annotations

import typer

from longshoreman.cli.api_client import CliError
from longshoreman.cli.stack import LogFormatOpt, set_log_format

app = typer.Typer(
    help="Run the control plane (REST API) in the foreground; `migrate` brings its database schema up to date.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback()
def control_plane(ctx: typer.Context, log_format: LogFormatOpt = None) -> None:
    """Run the control plane (REST API) in the foreground (the same as `python -m controlplane`)."""
    if ctx.invoked_subcommand is not None:
        return
    from controlplane.main import main as control_plane_main

    set_log_format(log_format)
    control_plane_main()


@app.command()
def migrate() -> None:
    """Bring the schema of the control plane's database (LONGSHOREMAN_DATABASE_URL) to this release's revision.

    Run it once per upgrade, before starting the new release; it is idempotent, and replicas starting meanwhile
    wait for it. A database migrated by a newer release is refused, and nothing is written.
    """
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from controlplane import schema
    from controlplane.database import DatabaseConfigError, describe_error, shown
    from controlplane.settings import ControlPlaneSettings

    try:
        settings = ControlPlaneSettings()
        db = settings.database()
    except (ValidationError, FileNotFoundError, DatabaseConfigError) as err:
        raise CliError(f"invalid configuration: {err}".splitlines()[0]) from err
    where = shown(db.url)
    try:
        done = schema.migrate(db)
    except schema.SchemaError as err:
        raise CliError(str(err)) from err
    except SQLAlchemyError as err:
        raise CliError(describe_error(db.url, err)) from err
    finally:
        db.dispose()
    if done.before is None:
        typer.echo(f"created the schema at revision {done.after} in the database at {where}")
    elif done.changed:
        typer.echo(f"migrated the database at {where} from revision {done.before} to {done.after}")
    else:
        typer.echo(f"the database at {where} is at revision {done.after} already: nothing to do")
