"""`location add/list/show/remove`, `run launch/list` and `token create` against a real control plane."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.api import LocationList, LocationView, RunList, TokenCreated
from contracts.locations import Definitions, JobDefinition, LocationReport
from contracts.statuses import LocationStatus
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.control_plane import ControlPlane


def report_loaded(control_plane: ControlPlane, name: str, jobs: list[JobDefinition]) -> None:
    """Tell the control plane, as an agent does, that `name` is LOADED with `jobs`."""
    report = LocationReport(
        name=name, status=LocationStatus.LOADED, generation=1, seq=1, definitions=Definitions(jobs=jobs)
    )
    response = httpx.put(
        f"{control_plane.url}/api/agent/locations/{name}/report",
        json=report.model_dump(mode="json"),
        headers={"Authorization": f"Bearer {control_plane.create_agent_token()}"},
    )
    response.raise_for_status()


def add_location(cli: Cli, name: str, queue: str) -> None:
    """Add a location served by a queue no agent polls (it stays STARTING unless a report says otherwise)."""
    result = cli("location", "add", "--name", name, "--module", "examples.hello.definitions", "--queue", queue)
    assert result.exit_code == 0, result.output


def test_add_list_show_remove(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"loc-{unique}"

    added = cli(
        "location", "add", "--name", name, "--module", "examples.hello.definitions",
        "--env", f"API_KEY=s3cr3t-{unique}", "--queue", f"q-{unique}",
    )  # fmt: skip

    assert added.exit_code == 0, added.output
    assert f"location {name} added: STARTING (generation 1)" in added.stdout
    listed = LocationList.model_validate_json(cli("location", "list", "--json").stdout)
    mine = next(loc for loc in listed.locations if loc.name == name)
    assert mine.spec.env == {"API_KEY": f"s3cr3t-{unique}"}
    assert mine.spec.agent_queue == f"q-{unique}"
    table = cli("location", "list")
    assert name in table.stdout and "STARTING" in table.stdout
    shown = cli("location", "show", name)
    assert shown.exit_code == 0
    assert "examples.hello.definitions" in shown.stdout
    assert "env:       API_KEY" in shown.stdout
    assert "s3cr3t" not in shown.stdout  # env values may be secrets: only their names are shown
    assert LocationView.model_validate_json(cli("location", "show", name, "--json").stdout).name == name

    again = one_error_line(cli("location", "add", "--name", name, "--module", "examples.hello.definitions"))
    assert "(HTTP 409)" in again

    removed = cli("location", "remove", name)
    assert removed.exit_code == 0, removed.output
    assert f"location {name} STOPPING" in removed.stdout


def test_add_from_spec_file(control_plane: ControlPlane, unique: str, tmp_path: Any) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: file-{unique}\nmodule: examples.hello.definitions\nagent_queue: q-{unique}\n")

    result = cli("location", "add", "--file", str(spec), "--json")

    assert result.exit_code == 0, result.output
    assert LocationView.model_validate_json(result.stdout).spec.agent_queue == f"q-{unique}"


def test_show_lists_the_jobs_and_launch_checks_them(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"jobs-{unique}"
    add_location(cli, name, queue=unique)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    report_loaded(control_plane, name, [JobDefinition(name="count", description="Counts to n.", config_schema=schema)])

    shown = cli("location", "show", name)
    assert "LOADED" in shown.stdout
    assert "count" in shown.stdout and "Counts to n." in shown.stdout

    unknown_job = one_error_line(cli("run", "launch", name, "nope"))
    assert "nope" in unknown_job and "(HTTP 422)" in unknown_job
    bad_config = one_error_line(cli("run", "launch", name, "count", "--config", '{"n": "three"}'))
    assert "(HTTP 422)" in bad_config
    unknown_location = one_error_line(cli("run", "launch", f"absent-{unique}", "count"))
    assert "(HTTP 404)" in unknown_location
    runs = RunList.model_validate_json(cli("run", "list", "--location", name, "--json").stdout)
    assert runs.runs == []


def test_launch_prints_the_run_and_list_shows_it(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"runs-{unique}"
    add_location(cli, name, queue=unique)
    report_loaded(control_plane, name, [JobDefinition(name="greet")])
    before = datetime.now(UTC)

    launched = cli("run", "launch", name, "greet", "--tag", "team=data", "--idempotency-key", unique, "--json")
    again = cli("run", "launch", name, "greet", "--idempotency-key", unique)

    assert launched.exit_code == 0, launched.output
    run = json.loads(launched.stdout)["run"]
    assert run["tags"] == {"team": "data"}
    assert again.exit_code == 0
    assert f"run {run['id']} already exists for this idempotency key" in again.stdout
    runs = RunList.model_validate_json(cli("run", "list", "--location", name, "--json").stdout).runs
    assert [r.id for r in runs] == [run["id"]]
    assert runs[0].created_at >= before.replace(microsecond=0)
    assert run["id"] in cli("run", "show", run["id"]).stdout
    assert run["id"] in cli("run", "list", "--location", name).stdout


def test_run_wait_exits_with_the_outcome_or_gives_up_after_the_timeout(
    control_plane: ControlPlane, unique: str
) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"wait-{unique}"
    add_location(cli, name, queue=unique)
    report_loaded(control_plane, name, [JobDefinition(name="greet")])
    ids = [json.loads(cli("run", "launch", name, "greet", "--json").stdout)["run"]["id"] for _ in range(2)]

    still_queued = one_error_line(cli("run", "wait", ids[0], "--timeout", "0.5"))
    assert f"run {ids[0]} is still QUEUED after 0.5 s" in still_queued

    agent = {"Authorization": f"Bearer {control_plane.create_agent_token()}"}
    for run_id, status in zip(ids, ("SUCCESS", "FAILURE"), strict=True):
        report = {"run_id": run_id, "status": status, "seq": 1, "reason": "job failed: boom (exit code 1)"}
        httpx.put(f"{control_plane.url}/api/agent/runs/{run_id}/report", json=report, headers=agent).raise_for_status()
    succeeded = cli("run", "wait", ids[0])
    failed = cli("run", "wait", ids[1], "--json")
    assert succeeded.exit_code == 0 and f"run {ids[0]} SUCCESS" in succeeded.stdout, succeeded.output
    assert failed.exit_code == 1 and json.loads(failed.stdout)["status"] == "FAILURE"
    assert "boom" in one_error_line(cli("run", "wait", ids[1]))
    assert "(HTTP 404)" in one_error_line(cli("run", "wait", f"nope-{unique}"))


def test_token_create_prints_the_secret_once(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)

    result = cli("token", "create", "--kind", "admin", "--name", f"ci-{unique}")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) >= 32 and "\n" not in token
    # The new admin token works for the CLI.
    assert Cli(control_plane.url, token)("location", "list").exit_code == 0
    created = TokenCreated.model_validate_json(
        cli("token", "create", "--kind", "agent", "--name", f"a-{unique}", "--json").stdout
    )
    assert created.kind == "agent"
