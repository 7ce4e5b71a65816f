"""`longshoreman run ...`: launch runs, follow them, read their events and logs, cancel them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from contracts.api import EventList, LaunchRunResponse, LogList, RunList, RunView
from contracts.automations import AUTOMATION_TAG
from contracts.run_protocol import PRIORITY_TAG, RunStatus
from contracts.runs import LogLine, ReexecuteRequest, RunRequest
from longshoreman.cli.api_client import ApiClient, CliError, connect
from longshoreman.cli.render import (
    console,
    duration,
    events_table,
    log_line,
    parse_pairs,
    print_error,
    print_json,
    runs_table,
    short_when,
    styled,
    when,
)

app = typer.Typer(help="Launch and inspect runs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
POLL_INTERVAL_S = 0.2
# One long-poll request waits at most this long (under the HTTP client's 30 s timeout), then asks again.
WAIT_CHUNK_S = 25.0


def parse_config(config: str | None, config_file: Path | None) -> dict[str, Any]:
    """The run config from --config JSON or --config-file; it must be a JSON object."""
    if config is not None and config_file is not None:
        raise CliError("use either --config or --config-file, not both")
    if config_file is not None:
        try:
            config = config_file.read_text()
        except OSError as exc:
            raise CliError(f"cannot read {config_file}: {exc.strerror or exc}") from exc
    if config is None:
        return {}
    source = str(config_file) if config_file else "--config"
    try:
        value = json.loads(config)
    except json.JSONDecodeError as exc:
        raise CliError(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise CliError(f"{source} must be a JSON object, e.g. '{{\"n\": 3}}'")
    return value


class RunFollower:
    """Polls a run, its new log lines and its status until it is terminal."""

    def __init__(self, client: ApiClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.after_seq = 0

    def run(self) -> RunView:
        """The run's current state."""
        return self.client.get(f"/api/runs/{self.run_id}", RunView)

    def new_lines(self) -> list[LogLine]:
        """Log lines not seen yet."""
        lines = self.client.get(f"/api/runs/{self.run_id}/logs", LogList, after_seq=self.after_seq).lines
        if lines:
            self.after_seq = max(self.after_seq, *(line.seq for line in lines))
        return lines


def progress_line(run: RunView, elapsed_s: float, last_line: str) -> Group:
    """The live line: spinner, status, elapsed time and the last log line."""
    spinner = Spinner(
        "dots", text=Text.from_markup(f"{styled(run.status)}  {elapsed_s:5.1f}s  {run.location}/{escape(run.job)}")
    )
    tail = Text(f"  {last_line}", style="dim", no_wrap=True, overflow="ellipsis") if last_line else Text("")
    return Group(spinner, tail)


def follow_run(client: ApiClient, run_id: str, timeout_s: float | None = None) -> RunView:
    """Follow a run with a live progress line (status, elapsed, last log line) until it is terminal."""
    follower = RunFollower(client, run_id)
    started = time.monotonic()
    last_line = ""
    run = follower.run()
    with Live(progress_line(run, 0.0, ""), console=console, transient=True, refresh_per_second=10) as live:
        while True:
            lines = follower.new_lines()
            if lines:
                last_line = lines[-1].line
            elapsed = time.monotonic() - started
            live.update(progress_line(run, elapsed, last_line))
            if run.status.is_terminal:
                return run
            if timeout_s is not None and elapsed > timeout_s:
                raise CliError(f"run {run_id} is still {run.status} after {timeout_s:.0f} s")
            time.sleep(POLL_INTERVAL_S)
            run = follower.run()


def wait_for_run(client: ApiClient, run_id: str, timeout_s: float | None = None) -> RunView:
    """The run once finished: long-polls the control plane, which answers as soon as the final report lands."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        remaining = WAIT_CHUNK_S if deadline is None else min(WAIT_CHUNK_S, deadline - time.monotonic())
        run = client.get(f"/api/runs/{run_id}/wait", RunView, timeout_s=max(remaining, 0.001))
        if run.status.is_terminal:
            return run
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(f"run {run_id} is still {run.status} after {timeout_s:g} s")


def report_outcome(run: RunView) -> int:
    """Print how a finished run ended; the exit code the CLI should use (0 only for SUCCESS)."""
    took = duration(run.created_at, run.finished_at)
    if run.status is RunStatus.SUCCESS:
        console.print(f"run {run.id} {styled(run.status)} in {took}")
        return 0
    print_error(f"run {run.id} {run.status}: {run.reason or 'no reason given'}")
    return 1


@app.command("launch")
def launch(
    location: str,
    job: Annotated[str, typer.Argument(help="The job; with --assets it may be left out (the asset job).")] = "",
    assets: Annotated[
        str | None, typer.Option(help="Dagster: materialize only these assets (comma-separated asset keys).")
    ] = None,
    partition: Annotated[str | None, typer.Option(help="Dagster: the partition of a partitioned job.")] = None,
    config: Annotated[str | None, typer.Option(help="Run config as a JSON object.")] = None,
    config_file: Annotated[Path | None, typer.Option(help="File holding the run config (JSON object).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag KEY=VALUE (repeatable).")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Launching twice with one key gives one run.")] = None,
    start_timeout: Annotated[float | None, typer.Option(help="Seconds from launch to the job running.")] = None,
    max_runtime: Annotated[float | None, typer.Option(help="Seconds the run may take in total.")] = None,
    queued_timeout: Annotated[
        float | None, typer.Option(help="Fail the run if it has not started this many seconds after launch.")
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(min=0, max=9, help="New attempts after an infrastructure failure (never after the job's own)."),
    ] = None,
    retry_backoff: Annotated[float | None, typer.Option(help="Seconds between attempts.")] = None,
    cancel_grace: Annotated[
        float | None, typer.Option(help="Seconds a canceled run gets between SIGTERM and SIGKILL.")
    ] = None,
    priority: Annotated[
        int | None, typer.Option(help=f"Its place in the run queue, higher first (the tag {PRIORITY_TAG}).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run; exit 0 on SUCCESS, 1 otherwise.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Launch a job of a code location."""
    retry: dict[str, Any] = {}
    if retries is not None:
        retry["max_attempts"] = retries + 1
    if retry_backoff is not None:
        retry["backoff_s"] = retry_backoff
    fields: dict[str, Any] = {
        "location": location,
        "job": job,
        "assets": [key.strip() for key in assets.split(",") if key.strip()] if assets is not None else None,
        "partition": partition,
        "config": parse_config(config, config_file),
        "tags": with_priority(parse_pairs(tag or [], "--tag"), priority),
        "idempotency_key": idempotency_key,
        "start_timeout_s": start_timeout,
        "max_runtime_s": max_runtime,
        "queued_timeout_s": queued_timeout,
        "cancel_grace_s": cancel_grace,
        "retry": retry or None,
    }
    try:
        request = RunRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CliError(f"invalid run request: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    with connect() as client:
        launched = client.send("POST", "/api/runs", request, LaunchRunResponse)
        report_launch(client, launched, wait, as_json)


def with_priority(tags: dict[str, str], priority: int | None) -> dict[str, str]:
    """The tags with --priority as the priority tag."""
    return tags if priority is None else {**tags, PRIORITY_TAG: str(priority)}


def report_launch(client: ApiClient, launched: LaunchRunResponse, wait: bool, as_json: bool) -> None:
    """Print what a launch made (and follow it with `wait`); exits 0 on SUCCESS, 1 otherwise, when it waited."""
    run = launched.run
    if as_json and not wait:
        print_json(launched)
        return
    if launched.created:
        console.print(f"run [bold]{run.id}[/] {styled(run.status)} ({run.location}/{escape(run.job)})")
    else:
        console.print(f"run [bold]{run.id}[/] already exists for this idempotency key: {styled(run.status)}")
    if run.queue_position is not None:
        console.print(f"in the run queue at position {run.queue_position}: {escape(run.message)}")
    if not wait:
        console.print(f"follow it with: longshoreman run logs {run.id} --follow")
        return
    final = follow_run(client, run.id)
    if as_json:
        print_json(final)
    raise typer.Exit(report_outcome(final))


@app.command("reexecute")
def reexecute(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    config: Annotated[str | None, typer.Option(help="A new run config (JSON object); default: the run's.")] = None,
    config_file: Annotated[Path | None, typer.Option(help="File holding the new run config (JSON object).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Tag KEY=VALUE set over the run's tags (repeatable).")
    ] = None,
    priority: Annotated[int | None, typer.Option(help="Its place in the run queue, higher first.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Re-executing twice with one key gives one run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the new run; exit 0 on SUCCESS, 1 otherwise.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Launch a run again: a new run of the same location, job, config and tags, linked to it."""
    tags = with_priority(parse_pairs(tag or [], "--tag"), priority)
    fields = {
        "config": parse_config(config, config_file) if config is not None or config_file is not None else None,
        "tags": tags or None,
        "idempotency_key": idempotency_key,
    }
    try:
        body = ReexecuteRequest.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CliError(f"invalid re-execution: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    with connect() as client:
        launched = client.send("POST", f"/api/runs/{run_id}/reexecute", body, LaunchRunResponse)
        report_launch(client, launched, wait, as_json)


RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str | None, option: str) -> str | None:
    """An ISO 8601 time, or a duration ago (`30m`, `2h`, `7d`), as the API's ISO 8601 time."""
    if text is None:
        return None
    match = RELATIVE.match(text.strip())
    if match:
        ago = timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
        return (datetime.now(UTC) - ago).isoformat()
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise CliError(
            f"{option} must be an ISO 8601 time (2026-05-01T12:00) or a duration ago (30m, 2h, 7d)"
        ) from None


@app.command("list")
def list_(
    location: Annotated[str | None, typer.Option(help="Only runs of this location.")] = None,
    job: Annotated[str | None, typer.Option(help="Only runs of this job.")] = None,
    status: Annotated[
        list[RunStatus] | None, typer.Option(help="Only runs in this status (repeatable).", case_sensitive=False)
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only runs tagged KEY=VALUE, or carrying KEY (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Created at or after: ISO 8601, or a duration ago (2h).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before: ISO 8601, or a duration ago.")] = None,
    parent: Annotated[str | None, typer.Option(help="Only re-executions of this run.")] = None,
    automation: Annotated[
        str | None, typer.Option(help="Only runs launched by this schedule or sensor (LOCATION/NAME).")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page (its next cursor).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first; runs waiting in the run queue show their place in it."""
    tags = list(tag or [])
    if automation is not None:
        if automation.count("/") != 1:
            raise CliError(f"--automation {automation!r}: expected LOCATION/NAME")
        tags.append(f"{AUTOMATION_TAG}={automation}")
    params = {
        "location": location,
        "job": job,
        "status": [s.value for s in status] if status else None,
        "tag": tags or None,
        "created_after": parse_when(since, "--since"),
        "created_before": parse_when(until, "--until"),
        "parent": parent,
        "cursor": cursor,
        "limit": limit,
    }
    with connect() as client:
        result = client.get("/api/runs", RunList, **params)
    if as_json:
        print_json(result)
        return
    if not result.runs:
        console.print("no runs match")
    else:
        console.print(runs_table(result.runs))
    if result.next_cursor:
        console.print(f"[dim]more: --cursor {result.next_cursor}[/]")


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
    """Show one run."""
    with connect() as client:
        run = client.get(f"/api/runs/{run_id}", RunView)
    if as_json:
        print_json(run)
        return
    console.print(f"[bold]{run.id}[/]  {styled(run.status)}  {run.location}/{escape(run.job)}  attempt {run.attempt}")
    if run.reason:
        console.print(f"reason:    {escape(run.reason)}")
    if run.message:
        console.print(f"message:   {escape(run.message)}")
    if run.queue_position is not None:
        console.print(f"queue:     position {run.queue_position}, priority {run.priority}")
    if run.compute_logs is not None and run.compute_logs.url is not None:
        forwarded = "also forwarded to the control plane" if run.compute_logs.forwarded else "not forwarded"
        console.print(f"logs:      {escape(run.compute_logs.where(run.id))} ({forwarded})")
    if run.log_tail:
        console.print("last output of the run worker:")
        console.print(escape(run.log_tail.rstrip()))
    console.print(
        f"created:   {when(run.created_at)}  started: {when(run.started_at)}  finished: {when(run.finished_at)}"
    )
    console.print(f"duration:  {duration(run.started_at, run.finished_at)}  workflow: {run.workflow_id}")
    console.print(f"config:    {escape(json.dumps(run.config))}")
    if run.tags:
        console.print(f"tags:      {escape(', '.join(f'{k}={v}' for k, v in run.tags.items()))}")
    if run.pool:
        console.print(f"pool:      {escape(run.pool)}")
    if run.idempotency_key:
        console.print(f"idempotency key: {escape(run.idempotency_key)}")
    with connect() as client:
        print_lineage(client, run)


MAX_LINEAGE = 20


def print_lineage(client: ApiClient, run: RunView) -> None:
    """The runs this one re-executes (oldest first) and its own re-executions."""
    ancestors: list[RunView] = []
    parent_id = run.parent_run_id
    while parent_id is not None and len(ancestors) < MAX_LINEAGE:
        try:
            parent = client.get(f"/api/runs/{parent_id}", RunView)
        except CliError:
            break  # removed meanwhile: the lineage ends there
        ancestors.insert(0, parent)
        parent_id = parent.parent_run_id
    children = client.get("/api/runs", RunList, parent=run.id, limit=MAX_LINEAGE).runs
    if not ancestors and not children:
        return
    chain = [f"{r.id} {styled(r.status)}" for r in ancestors] + [f"[bold]{run.id}[/] (this run)"]
    console.print(f"lineage:   {' -> '.join(chain)}")
    for child in reversed(children):
        console.print(f"re-executed as: {child.id} {styled(child.status)} ({short_when(child.created_at)})")


@app.command("events")
def events(run_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
    """Print a run's events."""
    with connect() as client:
        result = client.get(f"/api/runs/{run_id}/events", EventList)
    if as_json:
        print_json(result)
    elif not result.events:
        console.print("no events yet")
    else:
        console.print(events_table(result.events))


@app.command("logs")
def logs(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a run's captured stdout/stderr (from its log store when they were not forwarded)."""
    with connect() as client:
        follower = RunFollower(client, run_id)
        first = follower.run()
        source = _log_source(follower, first)
        if as_json:
            print_json(LogList(lines=source()))
            return
        run: RunView | None = first
        while True:
            for line in source():
                console.print(log_line(line), soft_wrap=True)
            if not follow or (run is not None and run.status.is_terminal):
                break
            time.sleep(POLL_INTERVAL_S)
            # Read the status first so no line written before the run ended can be missed.
            run = follower.run()
            if run.status.is_terminal:
                for line in source():
                    console.print(log_line(line), soft_wrap=True)
                break
    if follow and run is not None:
        raise typer.Exit(report_outcome(run))


def _log_source(follower: RunFollower, run: RunView) -> Callable[[], list[LogLine]]:
    """New lines of the run: from the control plane, or read from the run's own store with our credentials."""
    logs = run.compute_logs
    if logs is None or logs.url is None or logs.forwarded:
        return follower.new_lines
    from longshoreman.compute_logs.reader import StoreError, StoreReader

    where = logs.where(run.id)
    try:
        reader = StoreReader(logs.url, run.id)
    except StoreError as exc:
        raise CliError(f"the logs of run {run.id} are kept in {where}; cannot read them here: {exc}") from exc

    def read() -> list[LogLine]:
        try:
            return [LogLine.model_validate(line) for line in reader.new_lines()]
        except StoreError as exc:
            raise CliError(f"the logs of run {run.id} are kept in {where}; cannot read them here: {exc}") from exc

    return read


@app.command("wait")
def wait(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.", min=0)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until a run has finished; exit 0 on SUCCESS, 1 otherwise (also when the timeout passes first)."""
    with connect() as client:
        run = wait_for_run(client, run_id, timeout)
    if as_json:
        print_json(run)
    raise typer.Exit(report_outcome(run))


@app.command("cancel")
def cancel(run_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
    """Cancel a run: its worker gets SIGTERM, then SIGKILL after the grace period."""
    with connect() as client:
        run = client.send("POST", f"/api/runs/{run_id}/cancel", None, RunView)
    if as_json:
        print_json(run)
        return
    console.print(f"run [bold]{run.id}[/] {styled(run.status)}")
