"""The Dagster adapter's parts against real dagster: the config schema agrees with Dagster's own validation, the
definitions fit the location protocol, and a run worker runs a multiprocess-executor job on a run-local instance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import jsonschema
import pytest

from contracts.code_server_protocol import code_server_command
from contracts.locations import MAX_DEFINITIONS_BYTES, Definitions
from contracts.run_protocol import ExitCode, RunEnvError, RunWorkerEnv
from examples.dagster_etl.definitions import defs
from longshoreman.dagster.catalog import DagsterCatalog
from longshoreman.dagster.config_schema import job_config_schema
from longshoreman.dagster.loader import load
from longshoreman.dagster.run import DagsterRun
from longshoreman.definitions import LoadError
from tests.longshoreman.sdk_support import clean_env, execute_run, run_env, write_module

GREET = {"ops": {"say_hello": {"config": {"name": "docks"}}}}
CONFIGS: list[tuple[str, Any]] = [
    ("greet_job", {}),
    ("greet_job", GREET),
    ("greet_job", {"ops": {"say_hello": {"config": {"name": "docks", "times": 2}}}}),
    ("greet_job", {"ops": {"say_hello": {"config": {"name": "docks", "times": "two"}}}}),
    ("greet_job", {"ops": {"say_hello": {"config": {"name": "docks", "loud": True}}}}),
    ("greet_job", {"ops": {"say_hello": {"config": {}}}}),
    ("greet_job", GREET | {"execution": {"config": {"retries": {"disabled": {}}}}}),
    ("greet_job", GREET | {"execution": {"config": {"retries": {"disabled": {}, "enabled": {}}}}}),
    ("greet_job", GREET | {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}),
    ("greet_job", GREET | {"unknown": {}}),
    ("slow_job", {}),
    ("slow_job", {"ops": {"nap": {"config": {"seconds": 2}}}}),
    ("slow_job", {"ops": {"nap": {"config": {"seconds": "long"}}}}),
    ("slow_job", {"ops": {"nope": {}}}),
    ("etl_job", {}),
    ("etl_job", {"ops": {"raw_orders": {"config": {}}}}),
]


@pytest.mark.parametrize(("job", "config"), CONFIGS)
def test_the_launch_schema_accepts_exactly_what_dagster_accepts(job: str, config: Any):
    definition = defs.resolve_job_def(job)
    schema = job_config_schema(definition)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    try:
        dg.validate_run_config(definition, config)
        dagster_accepts = True
    except dg.DagsterInvalidConfigError:
        dagster_accepts = False

    assert jsonschema.validators.validator_for(schema)(schema).is_valid(config) == dagster_accepts


# Accepted by the translated JSON schema (2.0 is an integer there) but not by Dagster (an Int is no float): only
# Dagster's own check, in the code server, refuses it at launch.
FLOAT_TIMES = {"ops": {"say_hello": {"config": {"name": "docks", "times": 2.0}}}}


def test_the_code_server_checks_a_config_with_dagster_where_the_schema_cannot():
    catalog = DagsterCatalog(load("examples.dagster_etl.definitions"))
    schema = job_config_schema(defs.resolve_job_def("greet_job"))

    assert jsonschema.validators.validator_for(schema)(schema).is_valid(FLOAT_TIMES)
    assert catalog.check_config("greet_job", FLOAT_TIMES) == [
        'Invalid scalar at path root:ops:say_hello:config:times. Value "2.0" of type "<class \'float\'>" is not '
        'valid for expected type "Int".'
    ]
    assert catalog.check_config("greet_job", GREET) == []
    assert catalog.check_config("nope", GREET) is None
    assert all(job["validates_config"] for job in catalog.to_dict()["jobs"])


def test_the_definitions_fit_the_location_protocol():
    described = DagsterCatalog(load("examples.dagster_etl.definitions")).to_dict()

    definitions = Definitions.model_validate(described)
    assert len(json.dumps(described)) < MAX_DEFINITIONS_BYTES / 4
    assert definitions.asset_job == "__ASSET_JOB"
    assert definitions.job("__ASSET_JOB") is not None  # an --assets launch without a job runs it


def test_a_module_without_dagster_definitions_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    write_module(tmp_path, "no_defs", "import dagster\nX = 1\n")

    with pytest.raises(LoadError, match=r"has no dagster\.Definitions object"):
        load("no_defs")


def test_the_framework_reaches_the_code_server_command_and_the_run_worker():
    command = code_server_command("python", "etl.defs", 4000, "0.0.0.0", framework="dagster")
    assert command[-2:] == ["--framework", "dagster"]
    assert "--framework" not in code_server_command("python", "hello", 4000, "0.0.0.0")

    env = RunWorkerEnv("r1", "etl.defs", "etl_job", framework="dagster").to_env()
    assert RunWorkerEnv.from_env(env).framework == "dagster"
    assert "LONGSHOREMAN_RUN_FRAMEWORK" not in RunWorkerEnv("r1", "hello", "greet").to_env()
    with pytest.raises(RunEnvError, match="RUN_FRAMEWORK must be one of"):
        RunWorkerEnv.from_env(env | {"LONGSHOREMAN_RUN_FRAMEWORK": "airflow"})


def test_a_multiprocess_job_runs_its_steps_in_child_processes_on_a_run_local_instance(tmp_path: Path):
    module = write_module(
        tmp_path,
        "fanout_defs",
        """
        import os
        import dagster as dg

        @dg.op
        def left() -> int:
            print(f"left in pid {os.getpid()}", flush=True)
            return 1

        @dg.op
        def right(value: int) -> None:
            print(f"right got {value} in pid {os.getpid()}", flush=True)

        @dg.job
        def fanout():
            right(left())

        defs = dg.Definitions(jobs=[fanout])  # the default executor: multiprocess
        """,
    )
    env = run_env("fanout", module=module, LONGSHOREMAN_RUN_FRAMEWORK="dagster")
    env.pop("DAGSTER_HOME", None)

    result = execute_run(env, tmp_path, timeout_s=120)

    assert result.returncode == ExitCode.SUCCESS, result.stderr
    pids = {line.rsplit(" ", 1)[1] for line in result.stdout.splitlines() if " in pid " in line}
    assert "right got 1" in result.stdout and len(pids) == 2  # two steps, two child processes
    assert not list(tmp_path.glob("longshoreman-dagster-*"))  # nothing of the instance is left


def test_without_forwarding_the_step_processes_output_goes_to_the_log_store_once(tmp_path: Path):
    module = write_module(
        tmp_path,
        "noisy_defs",
        """
        import sys
        import dagster as dg

        @dg.asset
        def noisy() -> None:
            for i in range(1, 1001):
                print(f"noisy {i}")
            print("noisy complaint", file=sys.stderr)
            sys.stdout.write("noisy " + "x" * 70_000)

        defs = dg.Definitions(assets=[noisy], jobs=[dg.define_asset_job("noisy_job", selection=[noisy])])
        """,
    )
    root = tmp_path / "logs"
    env = run_env(
        "noisy_job",
        module=module,
        run_id="r-noisy",
        LONGSHOREMAN_RUN_FRAMEWORK="dagster",
        LONGSHOREMAN_RUN_LOG_STORE=f"file://{root}",
        LONGSHOREMAN_RUN_FORWARD_LOGS="false",
    )
    env.pop("DAGSTER_HOME", None)

    result = execute_run(env, tmp_path, timeout_s=120)

    assert result.returncode == ExitCode.SUCCESS, result.stderr
    stored = [json.loads(line) for line in (root / "r-noisy" / "1" / "logs.jsonl").read_text().splitlines()]
    stdout = [line["line"] for line in stored if line["stream"] == "stdout"]
    first = stdout.index("noisy 1")
    assert stdout[first : first + 1000] == [f"noisy {i}" for i in range(1, 1001)]
    assert [len(line) for line in stdout[first + 1000 :]] == [64_000, 70_006 - 64_000]  # a long line is cut, not lost
    stderr = [line["line"] for line in stored if line["stream"] == "stderr"]
    assert stderr.count("noisy complaint") == 1


def test_invalid_run_config_is_refused_by_dagster_in_the_run_worker(tmp_path: Path):
    termination = tmp_path / "termination"
    env = run_env(
        "greet_job",
        module="examples.dagster_etl.definitions",
        LONGSHOREMAN_RUN_FRAMEWORK="dagster",
        LONGSHOREMAN_RUN_CONFIG=json.dumps({"ops": {"say_hello": {"config": {"name": 7}}}}),
        LONGSHOREMAN_TERMINATION_FILE=str(termination),
    )

    result = execute_run(env, tmp_path, timeout_s=120)

    assert result.returncode == ExitCode.LOAD_FAILED, result.stderr
    assert "run config is not valid for job 'greet_job'" in termination.read_text()
    assert "Invalid scalar at path root:ops:say_hello:config:name" in termination.read_text()


@pytest.mark.filterwarnings("ignore:Class `ExpectationResult` is deprecated:DeprecationWarning")
def test_observations_and_expectations_become_run_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    module = write_module(
        tmp_path,
        "observed_defs",
        """
        import dagster as dg

        @dg.op
        def look(context):
            context.log_event(dg.AssetObservation(asset_key="lake/files", metadata={"count": 3}))
            yield dg.ExpectationResult(success=False, label="rows", description="too few rows", metadata={"rows": 1})
            yield dg.Output(None)

        @dg.job
        def observe():
            look()

        defs = dg.Definitions(jobs=[observe], executor=dg.in_process_executor)
        """,
    )
    events: list[tuple[str, dict[str, Any]]] = []
    settings = RunWorkerEnv("r1", module, "observe", framework="dagster")

    outcome = DagsterRun(settings, lambda kind, message, at=None: events.append((kind, json.loads(message)))).execute()

    assert outcome.success
    bodies = {kind: body for kind, body in events}
    assert bodies["ASSET_OBSERVATION"] | {"message": ""} == {
        "step": "look",
        "asset": "lake/files",
        "partition": None,
        "metadata": {"count": 3},
        "message": "",
    }
    expectation = bodies["STEP_EXPECTATION_RESULT"]
    assert (expectation["label"], expectation["success"], expectation["metadata"]) == ("rows", False, {"rows": 1})
    kinds = [kind for kind, _ in events]
    assert (kinds[0], kinds[-1]) == ("STEP_START", "STEP_SUCCESS")

    quiet = RunWorkerEnv("r2", module, "observe", framework="dagster", forward_logs=False)
    hidden: list[dict[str, Any]] = []
    DagsterRun(quiet, lambda kind, message, at=None: hidden.append(json.loads(message))).execute()
    assert all("metadata" not in body and "message" not in body for body in hidden)  # names and outcomes only


def test_the_agent_and_the_control_plane_never_import_dagster(tmp_path: Path):
    code = "import sys, agent.main, controlplane.app, activities.launchers.process; print('dagster' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), cwd=tmp_path, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"
