"""`longshoreman automation ...`: list, show, start, stop, ticks, run-now and backfill schedules and sensors."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from contracts.automations import (
    AutomationKind,
    AutomationList,
    AutomationView,
    BackfillList,
    BackfillRequest,
    BackfillView,
    ScheduleDefinition,
    SensorDefinition,
    TickList,
    TickOutcome,
    TickView,
)
from longshoreman.cli.api_client import CliError, connect
from longshoreman.cli.render import clip, console, print_json, short_when, styled, when

app = typer.Typer(help="Schedules and sensors: the automations that launch runs by themselves.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
NameArg = Annotated[str, typer.Argument(help="LOCATION/NAME of the schedule or sensor.", metavar="LOCATION/NAME")]
OUTCOME_STYLES = {TickOutcome.SUCCESS: "green", TickOutcome.SKIPPED: "dim", TickOutcome.FAILURE: "bold red"}


def _path(ref: str) -> str:
    location, sep, name = ref.partition("/")
    if not sep or not location or not name or "/" in name:
        raise CliError(f"'{ref}' is not LOCATION/NAME (e.g. hello/hourly_greeting)")
    return f"/api/automations/{location}/{name}"


def cadence(view: AutomationView) -> str:
    """When it ticks, in words: a cron and its time zone, an interval, or a sensor's minimum interval."""
    definition = view.definition
    if view.kind is AutomationKind.SENSOR:
        return f"every ≥{definition.get('minimum_interval_s', 30):g} s"
    if definition.get("cron"):
        return f"cron {definition['cron']} ({definition.get('timezone', 'UTC')})"
    return f"every {definition.get('every_s', 0):g} s"


def outcome(tick: TickView | None) -> str:
    """A tick's outcome, coloured, or '-'."""
    if tick is None:
        return "-"
    style = OUTCOME_STYLES.get(tick.outcome, "")
    return f"[{style}]{tick.outcome}[/]"


def automations_table(automations: Iterable[AutomationView]) -> Table:
    """One row per automation (the full error and last reason are in `automation show`)."""
    table = Table(box=None, pad_edge=False)
    for column in ("AUTOMATION", "KIND", "JOB", "STATUS", "WHEN", "LAST TICK", "OUTCOME"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("ERROR / LAST REASON", overflow="fold")
    for view in automations:
        last = view.last_tick
        note = view.error or (last.reason if last is not None else "")
        table.add_row(
            escape(f"{view.location}/{view.name}"),
            view.kind.value,
            escape(view.job),
            styled(view.status) if not view.error else "[bold red]BROKEN[/]",
            escape(cadence(view)),
            short_when(last.time) if last is not None else "-",
            outcome(last),
            escape(clip(note, 50)),
        )
    return table


def ticks_table(ticks: Iterable[TickView]) -> Table:
    """One row per tick, newest first."""
    table = Table(box=None, pad_edge=False)
    for column in ("TIME", "SCHEDULED", "OUTCOME", "RUNS"):
        table.add_column(column, no_wrap=True)
    table.add_column("REASON", overflow="fold")
    for tick in ticks:
        table.add_row(
            when(tick.time),
            when(tick.scheduled_time) if tick.scheduled_time else "-",
            outcome(tick),
            ", ".join(tick.run_ids) or "-",
            escape(tick.reason),
        )
    return table


@app.command("list")
def list_(
    location: Annotated[str | None, typer.Option("--location", "-l", help="Only this location's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every schedule and sensor: status, when it ticks, its last tick."""
    with connect() as client:
        result = client.get("/api/automations", AutomationList, location=location)
    if as_json:
        print_json(result)
    elif not result.automations:
        console.print("no schedule or sensor yet: declare them in your Definitions (see the README, Automations)")
    else:
        console.print(automations_table(result.automations))


@app.command("show")
def show(ref: NameArg, as_json: JsonOpt = False) -> None:
    """One schedule or sensor: definition, status, error, cursor and its latest ticks."""
    path = _path(ref)
    with connect() as client:
        view = client.get(path, AutomationView)
        ticks = client.get(f"{path}/ticks", TickList, limit=10)
    if as_json:
        print_json(view)
        return
    console.print(f"[bold]{escape(view.location)}/{escape(view.name)}[/]  {view.kind.value}  {styled(view.status)}")
    if view.error:
        console.print(f"[bold red]error:[/]    {escape(view.error)}")
    definition = view.definition
    console.print(f"job:       {escape(view.job)}    when: {escape(cadence(view))}")
    if view.kind is AutomationKind.SCHEDULE:
        console.print(f"overlap:   {definition.get('overlap')}    catch-up: {definition.get('catchup')}")
    if definition.get("description"):
        console.print(f"about:     {escape(definition['description'])}")
    if view.cursor is not None:
        console.print(f"cursor:    {escape(clip(view.cursor, 100))}")
    console.print(f"temporal:  {view.temporal_id}    updated: {when(view.updated_at)}")
    if ticks.ticks:
        console.print(ticks_table(ticks.ticks))
    else:
        console.print("no tick yet")


def _set(ref: str, action: str) -> None:
    with connect() as client:
        view = client.send("POST", f"{_path(ref)}/{action}", None, AutomationView)
    console.print(f"{escape(view.location)}/{escape(view.name)}: {styled(view.status)}")


@app.command("start")
def start(ref: NameArg) -> None:
    """Let it tick (it stays started across redeploys and restarts)."""
    _set(ref, "start")


@app.command("stop")
def stop(ref: NameArg) -> None:
    """No ticks until started again (it stays stopped across redeploys and restarts)."""
    _set(ref, "stop")


@app.command("ticks")
def ticks(
    ref: NameArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Its ticks, newest first: time, outcome, runs, reason."""
    with connect() as client:
        result = client.get(f"{_path(ref)}/ticks", TickList, limit=limit)
    if as_json:
        print_json(result)
    elif not result.ticks:
        console.print("no tick yet")
    else:
        console.print(ticks_table(result.ticks))


@app.command("run-now")
def run_now(ref: NameArg) -> None:
    """Tick a schedule once, now (the tick appears in its ticks)."""
    with connect() as client:
        client.send("POST", f"{_path(ref)}/run-now", None, AutomationView)
    console.print(f"{escape(ref)}: ticked; see `longshoreman automation ticks {escape(ref)}`")


def _time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{option} '{value}' is not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _backfill_line(backfill: BackfillView) -> str:
    return (
        f"backfill {backfill.id}: {backfill.done}/{backfill.total} ticks, {len(backfill.run_ids)} runs, "
        f"{backfill.status} ({when(backfill.start)} → {when(backfill.end)})"
    )


@app.command("backfill")
def backfill(
    ref: NameArg,
    start: Annotated[str, typer.Option("--start", help="First tick time (ISO 8601; UTC unless it says).")],
    end: Annotated[str, typer.Option("--end", help="Last tick time, inclusive.")],
    rate: Annotated[float, typer.Option("--rate", help="At most this many ticks a second.")] = 2.0,
    max_ticks: Annotated[int, typer.Option("--max-ticks", help="Refuse a range holding more ticks.")] = 1000,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every tick is done.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One run per tick of a schedule between --start and --end; issued again, it launches nothing twice."""
    try:
        body = BackfillRequest(
            start=_time(start, "--start"), end=_time(end, "--end"), rate_per_s=rate, max_ticks=max_ticks
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        raise CliError(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from exc
    path = _path(ref)
    with connect() as client:
        created = client.send("POST", f"{path}/backfills", body, BackfillView)
        while wait and created.done < created.total:
            time.sleep(0.5)
            created = next(b for b in client.get(f"{path}/backfills", BackfillList).backfills if b.id == created.id)
    if as_json:
        print_json(created)
    else:
        console.print(_backfill_line(created))


@app.command("backfills")
def backfills(ref: NameArg, as_json: JsonOpt = False) -> None:
    """A schedule's backfills, newest first, with their progress."""
    with connect() as client:
        result = client.get(f"{_path(ref)}/backfills", BackfillList)
    if as_json:
        print_json(result)
    elif not result.backfills:
        console.print("no backfill yet")
    for item in result.backfills if not as_json else []:
        console.print(_backfill_line(item))


def definitions_tables(schedules: list[ScheduleDefinition], sensors: list[SensorDefinition]) -> Table | None:
    """The schedules and sensors of a location's definitions, for `location show` (None if it has none)."""
    if not schedules and not sensors:
        return None
    table = Table(title="automations", title_justify="left", box=None, pad_edge=False)
    for column in ("NAME", "KIND", "JOB", "WHEN"):
        table.add_column(column, no_wrap=True)
    table.add_column("ERROR", overflow="fold")
    for item in schedules:
        spec = f"cron {item.cron} ({item.timezone})" if item.cron else f"every {item.every_s:g} s"
        table.add_row(escape(item.name), "schedule", escape(item.job), escape(spec), escape(item.error))
    for sensor in sensors:
        every = f"every ≥{sensor.minimum_interval_s:g} s"
        table.add_row(escape(sensor.name), "sensor", escape(sensor.job), escape(every), escape(sensor.error))
    return table
