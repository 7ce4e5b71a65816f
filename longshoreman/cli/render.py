"""Shared output helpers: the consoles, one-line errors, tables, timestamps and `K=V` parsing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.agents import AgentStatus, AgentView
from contracts.api import LocationView, RunView, TokenView
from contracts.run_protocol import RunStatus
from contracts.runs import LogLine, RunEvent
from contracts.statuses import LocationStatus
from longshoreman.cli.api_client import CliError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLES = {
    LocationStatus.LOADED: "green",
    LocationStatus.STARTING: "yellow",
    LocationStatus.UNHEALTHY: "red",
    LocationStatus.STOPPING: "yellow",
    LocationStatus.STOPPED: "dim",
    LocationStatus.ERROR: "bold red",
    RunStatus.QUEUED: "dim",
    AgentStatus.AVAILABLE: "green",
    AgentStatus.NOT_POLLING: "bold red",
    AgentStatus.UNAVAILABLE: "bold red",
    RunStatus.STARTING: "yellow",
    RunStatus.STARTED: "cyan",
    RunStatus.SUCCESS: "green",
    RunStatus.FAILURE: "bold red",
    RunStatus.CANCELING: "yellow",
    RunStatus.CANCELED: "magenta",
}


def styled(status: str) -> str:
    """Rich markup for a status, coloured by what it means."""
    style = STATUS_STYLES.get(status, "")  # type: ignore[call-overload]
    return f"[{style}]{status}[/]" if style else status


def print_error(message: str) -> None:
    """Print one `error: ...` line on stderr (plain text: never wrapped, never parsed as markup)."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)


def print_json(model: BaseModel) -> None:
    """Print a contracts model as indented JSON on stdout (for --json)."""
    typer.echo(model.model_dump_json(indent=2))


def when(value: datetime | None) -> str:
    """A timestamp in local time, to the second; '-' when absent."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def duration(start: datetime | None, end: datetime | None) -> str:
    """`end - start` in a short human form; '-' when either is missing."""
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """Turn repeated `K=V` options into a dict; a pair without '=' is a CliError."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{what} must look like KEY=VALUE, got {pair!r}")
        result[key] = value
    return result


def short_when(value: datetime | None) -> str:
    """A timestamp for tables: the time alone if it is today, else date and minute."""
    if value is None:
        return "-"
    local = value.astimezone()
    return local.strftime("%H:%M:%S" if local.date() == datetime.now().astimezone().date() else "%Y-%m-%d %H:%M")


def clip(text: str, width: int) -> str:
    """The first line of `text`, cut to `width` characters with an ellipsis (the whole text is in `show`)."""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= width and first == text else first[: width - 1] + "…"


def _table(*columns: str, last: str) -> Table:
    """Columns that never wrap, and a `last` one that wraps when the terminal is narrow."""
    table = Table(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column(last, overflow="fold")
    return table


def locations_table(locations: Iterable[LocationView]) -> Table:
    """One row per code location (launcher, module and full messages are in `location show`)."""
    table = _table("NAME", "STATUS", "GEN", "JOBS", "UPDATED", last="MESSAGE")
    for loc in locations:
        table.add_row(
            loc.name,
            styled(loc.status),
            str(loc.generation),
            str(len(loc.definitions.jobs)),
            short_when(loc.updated_at),
            escape(clip(loc.message, 40)),
        )
    return table


def runs_table(runs: Iterable[RunView]) -> Table:
    """One row per run (full reasons are in `run show`); runs waiting in the run queue show their place in it."""
    runs = list(runs)
    queued = any(run.queue_position is not None for run in runs)
    columns = ["ID", "STATUS", *(["QUEUE"] * queued), "LOCATION", "JOB", "CREATED", "DURATION"]
    table = _table(*columns, last="REASON")
    for run in runs:
        place = [f"#{run.queue_position}" if run.queue_position is not None else "-"] if queued else []
        table.add_row(
            run.id,
            styled(run.status),
            *place,
            run.location,
            escape(run.job),
            short_when(run.created_at),
            duration(run.started_at or run.created_at, run.finished_at),
            escape(clip(run.reason or run.message, 60 if queued else 40)),
        )
    return table


def tokens_table(tokens: Iterable[TokenView]) -> Table:
    """One row per admin or agent token (never a secret)."""
    table = _table("ID", "KIND", "ROLE", "NAME", "QUEUES", "CREATED", "EXPIRES", last="REVOKED")
    for token in tokens:
        queues = ", ".join(token.queues) if token.queues is not None else ("any" if token.kind == "agent" else "")
        table.add_row(
            token.id,
            token.kind,
            token.role or "",
            escape(token.name),
            escape(queues),
            short_when(token.created_at),
            short_when(token.expires_at) if token.expires_at else "never",
            short_when(token.revoked_at) if token.revoked_at else "",
        )
    return table


def agents_table(agents: Iterable[AgentView]) -> Table:
    """One row per agent process (the full list of its last errors is in `--json`)."""
    table = _table(
        "NAME", "STATUS", "QUEUE", "LAUNCHERS", "VERSION", "HOST", "RUNS", "SERVERS", "LAST SEEN", last="ERROR"
    )
    for agent in agents:
        table.add_row(
            escape(agent.name),
            styled(agent.status),
            escape(agent.task_queue),
            ",".join(agent.launchers),
            escape(agent.version),
            escape(f"{agent.host}:{agent.pid}"),
            str(agent.running_runs),
            str(agent.code_servers),
            short_when(agent.last_seen),
            escape(clip(agent.last_errors[-1], 60)) if agent.last_errors else "",
        )
    return table


def events_table(events: Iterable[RunEvent]) -> Table:
    """One row per run event."""
    table = _table("SEQ", "TIME", "ATTEMPT", "TYPE", last="MESSAGE")
    for event in events:
        first_line = event.message.splitlines()[0] if event.message else ""
        table.add_row(str(event.seq), short_when(event.time), str(event.attempt), event.type, escape(first_line))
    return table


def log_line(line: LogLine) -> str:
    """A log line as rich markup, stderr lines in red."""
    text = escape(line.line)
    return f"[red]{text}[/]" if line.stream == "stderr" else text


def validation_message(exc: ValidationError) -> str:
    """The first few validation errors of a spec as one line."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "string_pattern_mismatch" and loc == "name":
            msg = "must be 1-40 lowercase letters, digits or '-', starting and ending with a letter or digit"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
