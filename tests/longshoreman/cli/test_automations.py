"""`longshoreman automation ...` and `location show` on examples/hello's schedule and sensor, against a real
control plane, agent and code server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.longshoreman.cli.helpers import Cli, one_error_line
from tests.support.agent import wait_for
from tests.support.stack import Stack


def test_the_hello_schedule_and_sensor_through_the_cli(stack: Stack, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    spec = stack.spec(env={"HELLO_INBOX": str(inbox)})
    stack.add_location(spec)
    name = spec["name"]
    cli = Cli(str(stack.client.base_url), stack.client.headers["Authorization"].removeprefix("Bearer "))

    shown = cli("location", "show", name)
    assert shown.exit_code == 0, shown.output
    assert "hourly_greeting" in shown.stdout and "cron 0 * * * * (UTC)" in shown.stdout
    assert "inbox_files" in shown.stdout and "every ≥10 s" in shown.stdout

    def listed() -> str | None:
        result = cli("automation", "list", "--location", name)
        return result.stdout if "inbox_files" in result.stdout else None

    table = wait_for(listed, 15, "the automations in `automation list`")
    assert "STOPPED" in table and "hourly_greeting" in table

    started = cli("automation", "start", f"{name}/inbox_files")
    assert started.exit_code == 0 and "RUNNING" in started.stdout, started.output
    (inbox / "three-lines.txt").write_text("a\nb\nc\n")

    def ticked() -> list[dict[str, object]] | None:
        result = cli("automation", "ticks", f"{name}/inbox_files", "--json")
        ticks = json.loads(result.stdout)["ticks"]
        return [t for t in ticks if t["run_ids"]] or None

    tick = wait_for(ticked, 40, "a tick of inbox_files with a run", interval_s=0.5)[0]
    run = stack.wait_run(str(tick["run_ids"][0]))  # type: ignore[index]
    assert run["status"] == "SUCCESS" and run["config"] == {"n": 3} and run["tags"]["file"] == "three-lines.txt"
    assert stack.logs(run["id"])[-1] == "line 3"
    shown = cli("automation", "show", f"{name}/inbox_files")
    assert shown.exit_code == 0 and "cursor:" in shown.stdout and "SUCCESS" in shown.stdout, shown.output
    assert "STOPPED" in cli("automation", "stop", f"{name}/inbox_files").stdout
    by_sensor = cli("run", "list", "--automation", f"{name}/inbox_files", "--json")
    assert [item["id"] for item in json.loads(by_sensor.stdout)["runs"]] == [run["id"]], by_sensor.output
    assert cli("run", "list", "--automation", "no-slash").exit_code != 0

    now = cli("automation", "run-now", f"{name}/hourly_greeting")
    assert now.exit_code == 0, now.output
    wait_for(lambda: "SUCCESS" in cli("automation", "ticks", f"{name}/hourly_greeting").stdout, 30, "the run-now tick")

    filled = cli(
        "automation", "backfill", f"{name}/hourly_greeting",
        "--start", "2026-03-01T09:00:00Z", "--end", "2026-03-01T11:30:00Z", "--rate", "10", "--wait", "--json",
    )  # fmt: skip
    assert filled.exit_code == 0, filled.output
    result = json.loads(filled.stdout)
    assert (result["total"], result["done"], len(result["run_ids"])) == (3, 3, 3)
    configs = sorted(stack.wait_run(run_id)["config"]["name"] for run_id in result["run_ids"])
    assert configs == ["the 09:00 crowd", "the 10:00 crowd", "the 11:00 crowd"]
    assert "3/3 ticks" in cli("automation", "backfills", f"{name}/hourly_greeting").stdout

    assert "LOCATION/NAME" in one_error_line(cli("automation", "show", "no-slash"))
    assert "has no automation 'nope'" in one_error_line(cli("automation", "start", f"{name}/nope"))
    assert "ISO 8601" in one_error_line(
        cli("automation", "backfill", f"{name}/hourly_greeting", "--start", "yesterday", "--end", "today")
    )
    assert "only schedules" in one_error_line(cli("automation", "run-now", f"{name}/inbox_files"))
