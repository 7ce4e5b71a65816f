"""`longshoreman agent`: run an agent in the foreground, or `agent list` the agents the control plane knows."""

from __future__ import annotations

from typing import Annotated

import typer

from contracts.agents import AgentList
from longshoreman.cli import stack
from longshoreman.cli.api_client import connect
from longshoreman.cli.render import agents_table, console, print_json

app = typer.Typer(
    help="Run an agent (Temporal worker of the location and run workflows) in the foreground, or list agents.",
    invoke_without_command=True,
)


@app.callback()
def agent(ctx: typer.Context, log_format: stack.LogFormatOpt = None) -> None:
    """Run an agent in the foreground (`longshoreman agent`); `longshoreman agent list` shows the agents."""
    if ctx.invoked_subcommand is None:
        stack.agent(log_format)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False) -> None:
    """Agents the control plane heard of within a day: status, queue, launchers, version, runs, last errors."""
    with connect() as client:
        agents = client.get("/api/agents", AgentList)
    if as_json:
        print_json(agents)
    elif not agents.agents:
        console.print("no agent has reported to the control plane yet: start one with `longshoreman agent`")
    else:
        console.print(agents_table(agents.agents))
