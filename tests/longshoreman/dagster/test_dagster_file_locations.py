"""Code named as `dagster dev` names it besides `-m`: a `python_file` location (`-f`, for Dagster and our SDK) and
the locations of a Dagster `workspace.yaml` (`-w`), against real dagster, the real agent, control plane and
Temporal dev server."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from contracts.code_server_protocol import code_server_command
from contracts.locations import LocationSpec
from contracts.run_protocol import ExitCode, RunEnvError, RunWorkerEnv
from longshoreman.dagster.loader import load_file
from longshoreman.definitions import LoadError
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.longshoreman.sdk_support import execute_run, run_env
from tests.support.agent import REPO_ROOT, get_json, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack

ETL_FILE = "examples/dagster_etl/definitions.py"
ETL_ASSETS = {"raw_orders", "order_totals", "broken_asset", "daily_report"}

# A project that is a file, not a package, run with Dagster's default (multiprocess) executor: each step's
# child process loads the file again, as a run of `dagster dev -f` does.
FANOUT = """
import os
import dagster as dg

@dg.asset
def left() -> int:
    print(f"left in pid {os.getpid()}", flush=True)
    return 1

@dg.asset
def right(left: int) -> None:
    print(f"right got {left} in pid {os.getpid()}", flush=True)

both = dg.define_asset_job("both", selection=[left, right])
defs = dg.Definitions(assets=[left, right], jobs=[both])
"""


def write_project(directory: Path, source: str = FANOUT) -> Path:
    """A one-file Dagster project in `directory/project/defs.py` (not importable as a module)."""
    (directory / "project").mkdir(parents=True, exist_ok=True)
    path = directory / "project" / "defs.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_a_spec_names_its_code_one_way():
    base = {"name": "etl", "framework": "dagster"}
    assert LocationSpec.model_validate(base | {"python_file": ETL_FILE}).code_target() == ETL_FILE
    for fields, message in (
        (base, "module (or python_file) is required"),
        (base | {"module": "a.b", "python_file": ETL_FILE}, "either module or python_file, not both"),
        (base | {"python_file": "defs.txt"}, "must be the path of a .py file"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            LocationSpec.model_validate(fields)

    command = code_server_command("python", None, 4000, "0.0.0.0", framework="dagster", python_file="d.py")
    assert command[3:6] == ["code-server", "--python-file", "d.py"] and "--module" not in command
    env = RunWorkerEnv("r1", "", "etl_job", framework="dagster", python_file="d.py").to_env()
    assert "LONGSHOREMAN_RUN_MODULE" not in env
    assert RunWorkerEnv.from_env(env).python_file == "d.py"
    with pytest.raises(RunEnvError, match="RUN_MODULE and LONGSHOREMAN_RUN_PYTHON_FILE are both set"):
        RunWorkerEnv.from_env(env | {"LONGSHOREMAN_RUN_MODULE": "etl.defs"})


def test_a_missing_or_broken_file_is_a_load_error_with_the_users_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError, match=r"python file 'nope\.py' not found"):
        load_file("nope.py")
    write_project(tmp_path, "import dagster as dg\n\nraise RuntimeError('no warehouse')\n")
    with pytest.raises(LoadError, match=r"could not import file 'project/defs\.py': RuntimeError: no warehouse") as err:
        load_file("project/defs.py")
    shown = err.value.user_traceback()
    assert "raise RuntimeError('no warehouse')" in shown and "code_pointer.py" not in shown


def test_a_multiprocess_run_of_a_file_reconstructs_its_job_from_the_file(tmp_path: Path):
    write_project(tmp_path)
    env = run_env("both", LONGSHOREMAN_RUN_FRAMEWORK="dagster", LONGSHOREMAN_RUN_PYTHON_FILE="project/defs.py")
    env.pop("LONGSHOREMAN_RUN_MODULE")
    env.pop("DAGSTER_HOME", None)

    result = execute_run(env, tmp_path, timeout_s=120)

    assert result.returncode == ExitCode.SUCCESS, result.stderr
    pids = {line.rsplit(" ", 1)[1] for line in result.stdout.splitlines() if " in pid " in line}
    assert "right got 1" in result.stdout and len(pids) == 2  # two steps, each in a child process


def test_a_python_file_location_loads_and_its_asset_job_succeeds(stack: Stack):
    view = stack.add_location(
        stack.spec("etlfile", module=None, python_file=ETL_FILE, framework="dagster", startup_timeout_s=60)
    )

    assert view["spec"]["python_file"] == ETL_FILE and view["spec"]["module"] is None
    assert {asset["key"] for asset in view["definitions"]["assets"]} == ETL_ASSETS
    run = stack.wait_run(stack.launch("etl_job", location="etlfile"), timeout_s=60)
    assert run["status"] == "SUCCESS", run["reason"]
    materialized = [
        json.loads(event["message"])["asset"]
        for event in stack.events(run["id"])
        if event["type"] == "ASSET_MATERIALIZATION"
    ]
    assert materialized == ["raw_orders", "order_totals"]

    refused = stack.client.post("/api/locations", json=stack.spec("both", framework="dagster", python_file="a.py")
                                | {"module": "a.b"})  # fmt: skip
    assert refused.status_code == 422 and "either module or python_file, not both" in refused.text, refused.text


def test_our_sdk_locations_may_name_a_file_too(stack: Stack):
    view = stack.add_location(stack.spec("hellofile", module=None, python_file="examples/hello/definitions.py"))

    assert "greet" in {job["name"] for job in view["definitions"]["jobs"]}
    run = stack.wait_run(stack.launch("greet", {"name": "file"}, location="hellofile"), timeout_s=60)
    assert run["status"] == "SUCCESS", run["reason"]


def test_a_workspace_file_adds_a_module_location_and_a_file_location(
    stack: Stack, control_plane: ControlPlane, tmp_path: Path
):
    write_project(tmp_path)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        textwrap.dedent(
            f"""
            load_from:
              - python_module:
                  module_name: examples.dagster_etl.definitions
                  location_name: etl_mod_{stack.prefix}
                  working_directory: {REPO_ROOT}
              - python_file:
                  relative_path: project/defs.py
                  location_name: fanout-{stack.prefix}
            """
        )
    )
    cli = Cli(control_plane.url, control_plane.admin_token)
    names = [f"etl-mod-{stack.prefix}", f"fanout-{stack.prefix}"]
    stack.locations.extend(names)

    added = cli("location", "add", "--workspace", str(workspace), "--queue", stack.queue, "--wait", "--timeout", "90")

    assert added.exit_code == 0, added.output
    assert f"location {names[0]} added: LOADED" in added.stdout and f"location {names[1]} added: LOADED" in added.stdout
    module_view, file_view = (stack.location(name) for name in names)
    assert {asset["key"] for asset in module_view["definitions"]["assets"]} == ETL_ASSETS
    assert module_view["spec"]["framework"] == file_view["spec"]["framework"] == "dagster"
    assert file_view["spec"]["python_file"] == str(tmp_path / "project" / "defs.py")
    assert file_view["spec"]["working_dir"] == str(tmp_path)
    assert {asset["key"] for asset in file_view["definitions"]["assets"]} == {"left", "right"}
    run = stack.wait_run(stack.launch("both", location="fanout"), timeout_s=90)
    assert run["status"] == "SUCCESS", run["reason"]
    succeeded = [json.loads(e["message"])["step"] for e in stack.events(run["id"]) if e["type"] == "STEP_SUCCESS"]
    assert succeeded == ["left", "right"]  # each step in a child process that loaded the file again

    again = cli("location", "add", "--workspace", str(workspace), "--queue", stack.queue)
    assert again.exit_code == 0, again.output
    assert f"location {names[0]} unchanged" in again.stdout and f"location {names[1]} unchanged" in again.stdout


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("  - grpc_server: {host: localhost, port: 4266}", "load_from entry 2: grpc_server is not supported"),
        ("  - python_file: {relative_path: missing.py}", "load_from entry 2: python_file 'missing.py' not found"),
        (
            "  - python_file: {relative_path: project/defs.py, attribute: defs}",
            "load_from entry 2: python_file key attribute is not supported",
        ),
        ("  - python_file: project/defs.py\n  - python_module: defs", "load_from entry 3: location name 'defs' is"),
    ],
)
def test_a_bad_workspace_file_is_refused_in_one_line_and_adds_nothing(
    control_plane: ControlPlane, tmp_path: Path, unique: str, entries: str, message: str
):
    write_project(tmp_path)
    workspace = tmp_path / "workspace.yaml"
    good = f"  - python_module: {{module_name: examples.dagster_etl.definitions, location_name: ok-{unique[:6]}}}"
    workspace.write_text(f"load_from:\n{good}\n{entries}\n")

    line = one_error_line(Cli(control_plane.url, control_plane.admin_token)("location", "add", "-w", str(workspace)))

    assert message in line, line
    with control_plane.client() as client:
        assert client.get(f"/api/locations/ok-{unique[:6]}").status_code == 404


# Steps that print to stdout and stderr (one line from a subprocess, straight to file descriptor 1), in child
# processes (the default executor) and in process: `talk` waits, mid-step, for the test to have seen its first line.
TALKING = """
import os
import sys
import time
from pathlib import Path

import dagster as dg

GO = Path({go!r})

@dg.asset
def talk() -> int:
    print("talk: first line")  # not flushed: it must arrive while the step still runs
    deadline = time.monotonic() + 120
    while not GO.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("talk: out 2")
    print("talk: on stderr", file=sys.stderr)
    os.system("echo talk: from a subprocess")
    sys.stdout.write("talk: no newline")
    return 1

@dg.asset
def answer(talk: int) -> None:
    print(f"answer: got {{talk}}")
    print("answer: on stderr", file=sys.stderr)

@dg.asset
def solo() -> None:
    print("solo: in process")
    print("solo: on stderr", file=sys.stderr)

talking = dg.define_asset_job("talking", selection=[talk, answer])
alone = dg.define_asset_job("alone", selection=[solo], executor_def=dg.in_process_executor)
defs = dg.Definitions(assets=[talk, answer, solo], jobs=[talking, alone])
"""


def test_the_step_processes_output_reaches_the_runs_logs_while_it_runs_each_line_once(stack: Stack, tmp_path: Path):
    go = tmp_path / "go"
    project = write_project(tmp_path, TALKING.format(go=str(go)))
    stack.add_location(
        stack.spec("talking", module=None, python_file=str(project), framework="dagster", startup_timeout_s=60)
    )

    run_id = stack.launch("talking", location="talking")
    wait_for(lambda: "talk: first line" in stack.logs(run_id), 90, "the step's first line while it runs")
    go.touch()
    run = stack.wait_run(run_id, timeout_s=90)

    assert run["status"] == "SUCCESS", run["reason"]
    lines = [(line["stream"], line["line"]) for line in get_json(stack.client, f"/api/runs/{run_id}/logs")["lines"]]
    expected = [
        ("stdout", "talk: first line"),
        ("stdout", "talk: out 2"),
        ("stderr", "talk: on stderr"),
        ("stdout", "talk: from a subprocess"),
        ("stdout", "talk: no newline"),
        ("stdout", "answer: got 1"),
        ("stderr", "answer: on stderr"),
    ]
    ours = [item for item in lines if item[1].startswith(("talk:", "answer:"))]
    assert sorted(ours) == sorted(expected)  # each line once, on its stream
    assert [item for item in ours if item[0] == "stdout"] == [item for item in expected if item[0] == "stdout"]

    alone = stack.wait_run(stack.launch("alone", location="talking"), timeout_s=90)
    assert alone["status"] == "SUCCESS", alone["reason"]
    solo = [line for line in stack.logs(alone["id"]) if line.startswith("solo:")]
    assert sorted(solo) == ["solo: in process", "solo: on stderr"]  # in process: our capture's, not twice
