"""`longshoreman limit ...`: the run queue's concurrency limits — list, set, remove, sync from a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape

from contracts.run_limits import EXAMPLES, LimitList, LimitSet, LimitSync, LimitSyncResult, LimitView
from longshoreman.cli.api_client import CliError, connect
from longshoreman.cli.render import console, print_json

app = typer.Typer(
    help=f"Concurrency limits of runs (scopes: {EXAMPLES}); changes take effect at once.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]


def limits_table(limits: list[LimitView]) -> Any:
    """One row per limit: its scope, maximum, runs holding a slot and runs waiting."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("SCOPE", "MAX", "IN USE", "WAITING"):
        table.add_column(column, no_wrap=True)
    table.add_column("BY VALUE", overflow="fold")
    for limit in limits:
        by_value = ", ".join(f"{value}: {n}" for value, n in sorted((limit.in_use_by_value or {}).items()))
        table.add_row(
            escape(limit.scope), str(limit.max_concurrent), str(limit.in_use), str(limit.waiting), escape(by_value)
        )
    return table


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List the limits with how many runs hold a slot under each and how many wait."""
    with connect() as client:
        result = client.get("/api/limits", LimitList)
    if as_json:
        print_json(result)
    elif not result.limits:
        console.print("no limits: every run starts at once")
    else:
        console.print(limits_table(result.limits))


@app.command("set")
def set_(
    scope: Annotated[str, typer.Argument(help=f"What the limit counts: {EXAMPLES}.")],
    max_concurrent: Annotated[int, typer.Argument(metavar="MAX", help="Runs that may hold a slot at once (≥ 0).")],
    as_json: JsonOpt = False,
) -> None:
    """Create or change a limit (a raised limit lets waiting runs start at once)."""
    try:
        body = LimitSet(max_concurrent=max_concurrent)
    except ValidationError as exc:
        raise CliError(f"invalid limit: MAX: {exc.errors()[0]['msg']}") from exc
    with connect() as client:
        view = client.send("PUT", f"/api/limits/{quote(scope, safe='')}", body, LimitView)
    if as_json:
        print_json(view)
        return
    console.print(
        f"limit {escape(view.scope)}: at most {view.max_concurrent} ({view.in_use} in use, {view.waiting} waiting)"
    )


@app.command("remove")
def remove(scope: Annotated[str, typer.Argument(help="The limit's scope.")]) -> None:
    """Remove a limit (the runs it held back may start at once)."""
    with connect() as client:
        client.request("DELETE", f"/api/limits/{quote(scope, safe='')}")
    console.print(f"removed limit {escape(scope)}")


def read_limits_file(path: Path) -> dict[str, Any]:
    """The `limits:` mapping (scope: maximum) of a limits YAML file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if data is None:
        data = {"limits": {}}
    if not isinstance(data, dict) or set(data) - {"limits"} or not isinstance(data.get("limits") or {}, dict):
        raise CliError(
            f"{path} must hold one mapping `limits:` of scope: maximum, e.g. `limits: {{pool:warehouse: 3}}`"
        )
    limits: dict[str, Any] = data.get("limits") or {}
    return limits


@app.command("sync")
def sync(
    file: Annotated[Path, typer.Option("--file", "-f", help="YAML file: `limits:` mapping scope to maximum.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would change.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the limits exactly those of the file (others are removed); all or nothing."""
    try:
        body = LimitSync(limits=read_limits_file(file), dry_run=dry_run)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "[key]")
        raise CliError(f"invalid limits in {file}: {where}: {err['msg'].removeprefix('Value error, ')}") from exc
    with connect() as client:
        result = client.send("PUT", "/api/limits", body, LimitSyncResult)
    if as_json:
        print_json(result)
        return
    verb = "would " if dry_run else ""
    for what, scopes in (("add", result.added), ("change", result.changed), ("remove", result.removed)):
        for scope in scopes:
            console.print(f"{verb}{what} {escape(scope)}")
    if not (result.added or result.changed or result.removed):
        console.print("the limits already match the file")
