"""`limit list | set | remove | sync`, `run list` of the queue, `run reexecute` and the lineage in `run show`, against a
real control plane."""

from __future__ import annotations

from pathlib import Path

from contracts.api import LaunchRunResponse, RunList
from contracts.locations import JobDefinition
from contracts.run_limits import LimitList
from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.longshoreman.cli.test_locations_and_runs import add_location, report_loaded
from tests.support.control_plane import ControlPlane


def test_limits_set_list_sync_and_remove_and_the_queue_in_run_list(
    control_plane: ControlPlane, unique: str, tmp_path: Path
) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name, queue = f"lim-{unique}", f"q-{unique}"
    add_location(cli, name, queue)
    report_loaded(control_plane, name, [JobDefinition(name="noop")])

    assert cli("limit", "set", f"queue:{queue}", "0").exit_code == 0
    ids = [
        LaunchRunResponse.model_validate_json(
            cli("run", "launch", name, "noop", "--priority", str(p), "--json").stdout
        ).run.id
        for p in (0, 7)
    ]
    listed = cli("run", "list", "--location", name, "--status", "QUEUED")
    limits = cli("limit", "list")

    assert listed.exit_code == 0 and "QUEUE" in listed.stdout, listed.output
    rows = [line for line in listed.stdout.splitlines() if line.startswith(tuple(ids))]
    assert [row.split()[2] for row in rows] == ["#1", "#2"]  # newest first; the priority 7 run is next
    assert f"waiting: queue '{queue}' 0/0 in use" in listed.stdout
    assert f"queue:{queue}" in limits.stdout and "2" in limits.stdout.split(f"queue:{queue}")[1].split()

    file = tmp_path / "limits.yaml"
    file.write_text(f"limits:\n  queue:{queue}: 5\n  tag:team-{unique}=*: 1\n")
    dry = cli("limit", "sync", "-f", str(file), "--dry-run")
    synced = cli("limit", "sync", "-f", str(file))

    assert dry.exit_code == 0 and f"would change queue:{queue}" in dry.stdout, dry.output
    assert synced.exit_code == 0 and f"add tag:team-{unique}=*" in synced.stdout, synced.output
    now = LimitList.model_validate_json(cli("limit", "list", "--json").stdout).limits
    assert {limit.scope: limit.max_concurrent for limit in now if unique in limit.scope} == {
        f"queue:{queue}": 5,
        f"tag:team-{unique}=*": 1,
    }
    assert RunList.model_validate_json(cli("run", "list", "--location", name, "--json").stdout).runs[0].dequeued_at

    file.write_text("limits:\n  queue:x: -1\n")
    assert "limits.queue:x" in one_error_line(cli("limit", "sync", "-f", str(file)))
    assert "longshoreman/" in one_error_line(cli("limit", "set", "tag:longshoreman/automation", "1"))
    for scope in (f"queue:{queue}", f"tag:team-{unique}=*"):
        assert cli("limit", "remove", scope).exit_code == 0
    assert "no limit has scope" in one_error_line(cli("limit", "remove", f"queue:{queue}"))


def test_reexecute_and_lineage(control_plane: ControlPlane, unique: str) -> None:
    cli = Cli(control_plane.url, control_plane.admin_token)
    name = f"rex-{unique}"
    add_location(cli, name, f"q-{unique}")
    report_loaded(control_plane, name, [JobDefinition(name="noop")])
    parent = LaunchRunResponse.model_validate_json(
        cli("run", "launch", name, "noop", "--tag", "team=data", "--json").stdout
    ).run

    again = cli("run", "reexecute", parent.id, "--tag", "try=2", "--config", '{"n": 1}', "--json")

    assert again.exit_code == 0, again.output
    child = LaunchRunResponse.model_validate_json(again.stdout).run
    assert (child.parent_run_id, child.tags, child.config) == (parent.id, {"team": "data", "try": "2"}, {"n": 1})
    shown = cli("run", "show", child.id)
    assert f"lineage:   {parent.id}" in shown.stdout and f"{child.id} (this run)" in shown.stdout, shown.output
    assert f"re-executed as: {child.id}" in cli("run", "show", parent.id).stdout
    assert "does not exist" in one_error_line(cli("run", "reexecute", f"nope-{unique}"))
