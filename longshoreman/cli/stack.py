"""`longshoreman agent` and `longshoreman dev` (the embedded dev stack, and its demo); the log-format option they
share with `longshoreman control-plane` (longshoreman/cli/control_plane.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from contracts.api import EventList, LaunchRunResponse, LogList
from contracts.run_protocol import RunStatus
from contracts.runs import RunRequest
from longshoreman.cli.api_client import CliError
from longshoreman.cli.render import console, events_table, log_line, print_error, styled
from longshoreman.cli.runs import follow_run, report_outcome
from longshoreman.cli.settings import DEFAULT_CREDENTIALS_FILE
from longshoreman.dev.stack import EXAMPLE_NAME, DevStack, DevStackConfig

DEMO_JOB = "greet"


LogFormatOpt = Annotated[
    str | None,
    typer.Option("--log-format", help="text or json (one JSON object per line); default: LONGSHOREMAN_LOG_FORMAT."),
]


def set_log_format(log_format: str | None) -> None:
    """Make `--log-format` the process's LONGSHOREMAN_LOG_FORMAT setting."""
    # The processes read their settings from the environment only: the option becomes the setting.
    if log_format is not None:
        if log_format not in ("text", "json"):
            raise CliError(f"--log-format must be text or json, not {log_format!r}")
        os.environ["LONGSHOREMAN_LOG_FORMAT"] = log_format


def agent(log_format: LogFormatOpt = None) -> None:
    """Run an agent (Temporal worker of the location and run workflows) in the foreground."""
    from agent.main import main as agent_main

    set_log_format(log_format)
    agent_main()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _still_stopping(signum: int, frame: FrameType | None) -> None:
    console.print("[yellow]still stopping, please wait...[/]")


def print_banner(stack: DevStack, state_dir: Path) -> None:
    """Where everything is and how to use it."""
    console.print()
    console.print("[bold green]Longshoreman dev stack is up[/]")
    console.print(f"  control plane    {stack.url}/   (web page; API docs: {stack.url}/docs)")
    console.print(f"  Temporal Web UI  {stack.ui_url}")
    console.print(f"  credentials      {escape(str(stack.credentials_file))}   (admin token for the web page and API)")
    console.print(f"  logs             {escape(str(stack.logs_dir))}/")
    console.print(f"  payload keys     {escape(str(stack.key_file))}   (`longshoreman replay` reads them)")
    console.print(f"  metrics          {stack.url}/metrics (control plane), {stack.metrics_url} (agent)")
    console.print(f"  codec endpoint   {stack.url}/codec   (the Web UI decodes payloads once you sign in on the page)")
    if state_dir.resolve() != DEFAULT_CREDENTIALS_FILE.parent.resolve():
        console.print(f"  the CLI needs:   export LONGSHOREMAN_CREDENTIALS_FILE={escape(str(stack.credentials_file))}")
    console.print("In another terminal, from this directory:")
    console.print("  longshoreman location list")
    console.print(f"  longshoreman location show {EXAMPLE_NAME}")
    console.print(f"  longshoreman run launch {EXAMPLE_NAME} {DEMO_JOB} --wait")
    console.print("  longshoreman run list")
    console.print("Press Ctrl-C to stop everything.")


def run_demo(stack: DevStack) -> int:
    """Launch the demo job, follow it live, print its events and logs; 0 on SUCCESS."""
    with stack.client() as client:
        request = RunRequest(location=EXAMPLE_NAME, job=DEMO_JOB, tags={"source": "demo"})
        run = client.send("POST", "/api/runs", request, LaunchRunResponse).run
        console.print(f"launched run [bold]{run.id}[/] ({EXAMPLE_NAME}/{DEMO_JOB})")
        final = follow_run(client, run.id, timeout_s=300)
        console.print(f"[bold]events[/] of run {final.id}")
        console.print(events_table(client.get(f"/api/runs/{final.id}/events", EventList).events))
        console.print(f"[bold]logs[/] of run {final.id}")
        for line in client.get(f"/api/runs/{final.id}/logs", LogList).lines:
            console.print(f"  {log_line(line)}", soft_wrap=True)
    code = report_outcome(final)
    console.print(f"control plane:   {stack.url}/ (web page)  API: {stack.url}/api/runs/{final.id}")
    console.print(f"Temporal Web UI: {stack.ui_url}/namespaces/default/workflows/{final.workflow_id}")
    if final.status is not RunStatus.SUCCESS:
        console.print(f"status {styled(final.status)}; logs of each component are in {escape(str(stack.logs_dir))}/")
    return code


def dev(
    state_dir: Annotated[Path, typer.Option(help="Where databases, credentials, logs and agent state live.")] = Path(
        ".longshoreman"
    ),
    port: Annotated[int, typer.Option(help="Control-plane port.")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    no_example: Annotated[bool, typer.Option("--no-example", help="Do not deploy examples/hello.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Run the demo job once, then stop everything.")] = False,
) -> None:
    """Run Temporal, the control plane and an agent locally, deploy examples/hello, and stay up until Ctrl-C."""
    if demo and no_example:
        raise CliError("--demo needs the example location: drop --no-example")
    config = DevStackConfig(state_dir=state_dir, port=port, temporal_port=temporal_port, ui_port=ui_port)
    stack = DevStack(config, say=lambda message: console.print(f"[dim]{escape(message)}[/]"))
    code = 0
    # Set SIGINT explicitly too: a shell starting `dev` in the background leaves SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        if not no_example:
            view = stack.deploy_example()
            console.print(f"location [bold]{view.name}[/] {styled(view.status)} with {len(view.definitions.jobs)} jobs")
        if demo:
            code = run_demo(stack)
        else:
            print_banner(stack, state_dir)
            while True:
                stack.check_alive()
                time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping...")
        code = 1 if demo else 0  # an interrupted demo did not show what it promised
    except CliError as exc:
        print_error(str(exc))
        code = 1
    finally:
        # A second Ctrl-C must not interrupt the clean-up half way and leave processes behind.
        signal.signal(signal.SIGINT, _still_stopping)
        signal.signal(signal.SIGTERM, _still_stopping)
        try:
            stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    console.print("stopped")
    raise typer.Exit(code)
