"""The `longshoreman` typer application: every failure is one `error: ...` line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 ships its own copy of click; older releases use click itself.
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from longshoreman.cli import (
    agents,
    alerts,
    audit,
    automations,
    control_plane,
    keys,
    limits,
    locations,
    replay,
    runs,
    stack,
    tokens,
)
from longshoreman.cli.api_client import CliError
from longshoreman.cli.render import print_error


class CliGroup(TyperGroup):
    """Top-level group that prints usage errors and CliErrors as one line instead of a traceback or a panel."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; in standalone mode exit with the command's code."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:
            # The help text has been printed already.
            code = exc.exit_code
        except click_exceptions.ClickException as exc:
            ctx = getattr(exc, "ctx", None) if isinstance(exc, click_exceptions.UsageError) else None
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            print_error(exc.format_message() + hint)
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
            code = 1
        except CliError as exc:
            print_error(str(exc))
            code = exc.exit_code
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=CliGroup,
    name="longshoreman",
    help="Longshoreman: a control plane decides, an agent of durable Temporal workflows runs your code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(locations.app, name="location")
app.add_typer(runs.app, name="run")
app.add_typer(automations.app, name="automation")
app.add_typer(alerts.app, name="alert")
app.add_typer(limits.app, name="limit")
app.add_typer(tokens.app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="key")
app.command("replay")(replay.replay)
app.add_typer(control_plane.app, name="control-plane")
# The first release's name for it, kept so existing scripts and compose files keep working.
app.add_typer(control_plane.app, name="server", hidden=True)
app.add_typer(agents.app, name="agent")
app.command("dev")(stack.dev)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of every `longshoreman` subcommand except code-server and execute-run."""
    app(args=list(argv) if argv is not None else None, prog_name="longshoreman")
