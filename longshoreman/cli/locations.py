"""`longshoreman location ...`: add, list, show, redeploy and remove code locations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from contracts.api import LocationEventList, LocationList, LocationView, RedeployBody
from contracts.locations import LocationSpec, agent_queue_change
from contracts.statuses import LocationStatus
from longshoreman.cli.api_client import ApiClient, ApiError, CliError, connect
from longshoreman.cli.automations import definitions_tables
from longshoreman.cli.render import (
    console,
    locations_table,
    parse_pairs,
    print_json,
    styled,
    validation_message,
    when,
)
from longshoreman.cli.workspace import workspace_specs

app = typer.Typer(help="Manage code locations (the code servers the agent keeps running).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
EnvOpt = Annotated[list[str] | None, typer.Option("--env", "-e", help="Environment variable KEY=VALUE (repeatable).")]
SecretEnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-env", help="Secret environment variable KEY=VALUE: stored encrypted, never shown (repeatable)."
    ),
]
WaitTimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits before giving up.")]


def load_spec_file(path: Path) -> LocationSpec:
    """Read a YAML (or JSON) location spec; every problem becomes one CliError line."""
    try:
        data: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise CliError(f"{path} is not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a mapping of spec fields (name, module, launcher, ...)")
    try:
        return LocationSpec.model_validate(data)
    except ValidationError as exc:
        raise CliError(f"invalid location spec in {path}: {validation_message(exc)}") from exc


def build_spec(fields: dict[str, Any]) -> LocationSpec:
    """A LocationSpec from command-line options, with the same one-line errors as a file."""
    try:
        return LocationSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise CliError(f"invalid location spec: {validation_message(exc)}") from exc


def wait_for_location(
    client: ApiClient, name: str, until: set[LocationStatus], timeout_s: float, min_generation: int = 0
) -> LocationView:
    """Poll a location until it reaches one of `until` (at `min_generation` or later); ERROR or timeout raise."""
    deadline = time.monotonic() + timeout_s
    with console.status(f"waiting for location {name}...") as status:
        while True:
            view = client.get(f"/api/locations/{name}", LocationView)
            status.update(f"location {name}: {view.status} (generation {view.generation}) {escape(view.message)}")
            if view.generation >= min_generation and view.status in until:
                return view
            if view.status is LocationStatus.ERROR and view.generation >= min_generation:
                raise CliError(f"location {name} is in ERROR: {view.message or 'no message'}")
            if time.monotonic() > deadline:
                wanted = "/".join(sorted(until))
                raise CliError(f"location {name} is still {view.status} after {timeout_s:.0f} s (waiting for {wanted})")
            time.sleep(0.5)


@app.command("add")
def add(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="YAML spec file.")] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="A Dagster workspace.yaml: adds or updates one dagster location per entry."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Location name (DNS-safe).")] = None,
    module: Annotated[str | None, typer.Option(help="Python module holding a Definitions object.")] = None,
    python_file: Annotated[
        str | None, typer.Option(help="Instead of --module: a Python file holding a Definitions object.")
    ] = None,
    launcher: Annotated[str | None, typer.Option(help="process, docker or kubernetes.")] = None,
    image: Annotated[str | None, typer.Option(help="Container image (docker, kubernetes).")] = None,
    env: EnvOpt = None,
    secret_env: SecretEnvOpt = None,
    working_dir: Annotated[str | None, typer.Option(help="Directory the processes start in (process).")] = None,
    queue: Annotated[str | None, typer.Option(help="Task queue of the agent that serves it.")] = None,
    framework: Annotated[
        str | None, typer.Option(help="longshoreman (default) or dagster: the module holds a dagster.Definitions.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the location is LOADED.")] = False,
    timeout: WaitTimeoutOpt = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """Add a code location from a spec file or from options, or Dagster's locations from a workspace file."""
    flags = {
        "name": name,
        "module": module,
        "python_file": python_file,
        "launcher": launcher,
        "image": image,
        "working_dir": working_dir,
        "framework": framework,
    }
    extra: dict[str, Any] = {
        "env": parse_pairs(env or [], "--env"),
        "secret_env": parse_pairs(secret_env or [], "--secret-env"),
        "agent_queue": queue,
    }
    if workspace is not None:
        named = [f"--{k.replace('_', '-')}" for k in ("name", "module", "python_file", "working_dir") if flags[k]]
        if file is not None or named:
            raise CliError(f"--workspace names the code itself: drop {', '.join(named) or '--file'}")
        if framework not in (None, "dagster"):
            raise CliError("a workspace file's locations are dagster locations: drop --framework")
        base = {"launcher": launcher, "image": image} | extra
        add_workspace(workspace_specs(workspace, base), wait, timeout, as_json)
        return
    if file is not None:
        if any(v is not None for v in flags.values()) or env or secret_env or queue:
            raise CliError("use either --file or --name/--module/... options, not both")
        spec = load_spec_file(file)
    else:
        if not name or not (module or python_file):
            raise CliError("give --file spec.yaml, --workspace workspace.yaml, or at least --name and --module")
        spec = build_spec(flags | extra)
    with connect() as client:
        view = client.send("POST", "/api/locations", spec, LocationView)
        if wait:
            view = wait_for_location(client, spec.name, {LocationStatus.LOADED}, timeout, view.generation)
    if as_json:
        print_json(view)
        return
    console.print(f"location [bold]{view.name}[/] added: {styled(view.status)} (generation {view.generation})")


def add_workspace(specs: list[LocationSpec], wait: bool, timeout: float, as_json: bool) -> None:
    """Declare every location of a workspace: checked all first (nothing half-added), then added or updated."""
    with connect() as client:
        current: dict[str, LocationView] = {}
        for spec in specs:
            try:
                view = client.get(f"/api/locations/{spec.name}", LocationView)
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
                continue
            if view.status is LocationStatus.STOPPED:
                continue  # added again, as a new location
            if view.spec.agent_queue != spec.agent_queue:
                raise CliError(f"location {spec.name}: {agent_queue_change(view.spec.agent_queue, spec.agent_queue)}")
            current[spec.name] = view
        views: list[LocationView] = []
        for spec in specs:
            # PUT declares: created if absent (or STOPPED), redeployed if its spec changed, else left as it is.
            view = client.send("PUT", f"/api/locations/{spec.name}", spec, LocationView)
            before = current.get(spec.name)
            outcome, generation = "added", view.generation
            if before is not None:
                # A redeploy stores the new spec (updated_at moves); its new generation comes when it serves.
                changed = view.updated_at != before.updated_at
                outcome, generation = ("updated", before.generation + 1) if changed else ("unchanged", 0)
            if wait:
                view = wait_for_location(client, spec.name, {LocationStatus.LOADED}, timeout, generation)
            views.append(view)
            if not as_json:
                console.print(
                    f"location [bold]{view.name}[/] {outcome}: {styled(view.status)} (generation {view.generation})"
                    f"  {escape(spec.code_target())}"
                )
    if as_json:
        print_json(LocationList(locations=views))


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List code locations."""
    with connect() as client:
        result = client.get("/api/locations", LocationList)
    if as_json:
        print_json(result)
    elif not result.locations:
        console.print("no code locations yet: add one with `longshoreman location add`")
    else:
        console.print(locations_table(result.locations))


@app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """Show one code location: status, generation, server and jobs."""
    with connect() as client:
        view = client.get(f"/api/locations/{name}", LocationView)
    if as_json:
        print_json(view)
        return
    spec = view.spec
    console.print(f"[bold]{view.name}[/]  {styled(view.status)}  generation {view.generation}")
    if view.message:
        console.print(f"message:   {escape(view.message)}")
    console.print(f"code server: {view.server or '-'}")
    console.print(
        f"launcher:  {spec.launcher}  {'python_file' if spec.python_file else 'module'}: "
        + escape(spec.code_target())
        + (f"  framework: {spec.framework}" if spec.framework != "longshoreman" else "")
        + (f"  image: {spec.image}" if spec.image else "")
    )
    console.print(f"queue:     {spec.agent_queue}  updated: {when(view.updated_at)}  workflow: {view.workflow_id}")
    if spec.env:
        # Values may be secrets: show only the names.
        console.print(f"env:       {', '.join(sorted(spec.env))}")
    if spec.secret_env:
        console.print(f"secrets:   {', '.join(sorted(spec.secret_env))} (stored encrypted, never shown)")
    if not view.definitions.jobs:
        console.print("jobs:      none reported yet")
        return
    table = Table(title="jobs", title_justify="left", box=None, pad_edge=False)
    for column in ("JOB", "DESCRIPTION", "CONFIG"):
        table.add_column(column, overflow="fold")
    for job in view.definitions.jobs:
        props = job.config_schema.get("properties", {})
        config = ", ".join(props) if isinstance(props, dict) and props else "-"
        table.add_row(escape(job.name), escape(job.description), escape(config))
    console.print(table)
    if view.definitions.assets:
        assets = Table(title="assets", title_justify="left", box=None, pad_edge=False)
        for column in ("ASSET", "GROUP", "DEPS", "CHECKS", "DESCRIPTION"):
            assets.add_column(column, overflow="fold")
        for asset in view.definitions.assets:
            deps, checks = ", ".join(asset.deps) or "-", ", ".join(asset.checks) or "-"
            assets.add_row(escape(asset.key), escape(asset.group or "-"), escape(deps), escape(checks),
                           escape(asset.description))  # fmt: skip
        console.print(assets)
    automations = definitions_tables(view.definitions.schedules, view.definitions.sensors)
    if automations is not None:
        console.print(automations)


@app.command("events")
def events(name: str, as_json: JsonOpt = False) -> None:
    """Show a code location's history: starts, crashes, restarts, redeploys, stops."""
    with connect() as client:
        result = client.get(f"/api/locations/{name}/events", LocationEventList)
    if as_json:
        print_json(result)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("TIME", "STATUS", "GEN", "SERVER", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for event in result.events:
        table.add_row(
            when(event.time), styled(event.status), str(event.generation), event.server or "-", escape(event.message)
        )
    console.print(table)


@app.command("redeploy")
def redeploy(
    name: str,
    env: EnvOpt = None,
    secret_env: SecretEnvOpt = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="New YAML spec (same name).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the new generation is LOADED.")] = False,
    timeout: WaitTimeoutOpt = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """Redeploy a code location as a new generation (blue/green), optionally with a new spec or env."""
    changes = parse_pairs(env or [], "--env")
    secret_changes = parse_pairs(secret_env or [], "--secret-env")
    spec = load_spec_file(file) if file is not None else None
    if spec is not None and spec.name != name:
        raise CliError(f"the spec in {file} is for location {spec.name!r}, not {name!r}")
    with connect() as client:
        current = client.get(f"/api/locations/{name}", LocationView)
        if changes or secret_changes:
            # The current spec shows secrets as '***', which the control plane reads as "keep the stored one".
            base = spec or current.spec
            fields = {"env": base.env | changes, "secret_env": base.secret_env | secret_changes}
            spec = build_spec(base.model_dump() | fields)
        view = client.send("POST", f"/api/locations/{name}/redeploy", RedeployBody(spec=spec), LocationView)
        if wait:
            view = wait_for_location(client, name, {LocationStatus.LOADED}, timeout, current.generation + 1)
    if as_json:
        print_json(view)
        return
    if wait:
        console.print(f"location [bold]{name}[/] redeployed: {styled(view.status)} (generation {view.generation})")
    else:
        console.print(
            f"location [bold]{name}[/] redeploy accepted (now {styled(view.status)}, generation {view.generation})"
        )


@app.command("remove")
def remove(
    name: str,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the location is STOPPED.")] = False,
    timeout: WaitTimeoutOpt = 120.0,
) -> None:
    """Remove a code location: its code server is stopped and its workflow completes."""
    with connect() as client:
        view = client.send("DELETE", f"/api/locations/{name}", None, LocationView)
        if wait:
            view = wait_for_location(client, name, {LocationStatus.STOPPED}, timeout)
    console.print(f"location [bold]{name}[/] {styled(view.status)}")
