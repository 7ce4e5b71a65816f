"""Sensors end to end: one SensorWorkflow per sensor on the real agent, evaluated in the real code server, its
runs launched through the real control plane by run key and its cursor kept only after them."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.agent import get_json
from tests.support.automations import AutomatedLocation
from tests.support.stack import Stack

INBOX_SENSOR = """
    import os
    from pathlib import Path
    from longshoreman import Definitions, RunRequest, SensorResult, SkipReason, job, sensor

    INBOX = Path(os.environ["INBOX"])

    @job
    def ingest(context):
        context.log_event("INGESTED", context.config["file"])

    @sensor(job=ingest, minimum_interval_s=1)
    def inbox(context):
        '''One run per new file; the cursor is the newest file name seen.'''
        names = sorted(p.name for p in INBOX.iterdir() if p.name > (context.cursor or ""))
        if not names:
            return SkipReason("no new file")
        return SensorResult([RunRequest({"file": n}, run_key=n) for n in names], cursor=names[-1])

    defs = Definitions(jobs=[ingest], sensors=[inbox])
"""


def ingested(stack: Stack, location: AutomatedLocation) -> list[str]:
    """The file of every run the sensor launched, in launch order."""
    runs = get_json(stack.client, f"/api/runs?location={location.name}&limit=1000")["runs"]
    return [run["config"]["file"] for run in reversed(runs)]


def wait_ingested(stack: Stack, location: AutomatedLocation, files: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sorted(ingested(stack, location)) != sorted(files):
        assert time.monotonic() < deadline, (ingested(stack, location), files, location.ticks("inbox")[-3:])
        time.sleep(0.2)


def test_a_sensor_sees_each_new_file_once_across_agent_restart_and_redeploy(stack: Stack, tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    location = AutomatedLocation.add(stack, tmp_path / "code", INBOX_SENSOR, env={"INBOX": str(inbox)})
    location.wait_ticks("inbox", 1, outcome="SKIPPED")

    (inbox / "a.csv").write_text("1")
    (inbox / "b.csv").write_text("2")
    wait_ingested(stack, location, ["a.csv", "b.csv"])
    # The tick is reported (and its cursor kept) only after its runs are launched: wait for that report.
    location.wait_ticks("inbox", 1, outcome="SUCCESS", cursor="b.csv")
    assert location.automation("inbox")["cursor"] == "b.csv"

    stack.agent.kill()
    (inbox / "c.csv").write_text("3")
    stack.agent.start()
    wait_ingested(stack, location, ["a.csv", "b.csv", "c.csv"])

    location.redeploy({"INBOX": str(inbox), "REDEPLOYED": "1"})
    (inbox / "d.csv").write_text("4")
    wait_ingested(stack, location, ["a.csv", "b.csv", "c.csv", "d.csv"])
    location.wait_ticks("inbox", 1, outcome="SKIPPED", cursor="d.csv")
    assert ingested(stack, location) == sorted(ingested(stack, location))  # each once, in order
    for tick in location.ticks("inbox"):
        assert tick["outcome"] in ("SUCCESS", "SKIPPED"), tick


def test_a_run_key_launches_one_run_however_often_it_is_requested(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(
        stack,
        tmp_path / "code",
        """
        from longshoreman import Definitions, RunRequest, job, sensor

        @job
        def nightly():
            pass

        @sensor(job=nightly, minimum_interval_s=1)
        def same_key(context):
            # No cursor: every tick asks for the same two runs again.
            return [RunRequest({"day": "2026-12-01"}, run_key="2026-12-01"), RunRequest(run_key="2026-12-02")]

        defs = Definitions(jobs=[nightly], sensors=[same_key])
        """,
    )

    ticks = location.wait_ticks("same_key", 4, outcome="SUCCESS")

    runs = get_json(stack.client, f"/api/runs?location={location.name}")["runs"]
    assert len(runs) == 2, runs
    assert {run_id for tick in ticks for run_id in tick["run_ids"]} == {run["id"] for run in runs}


def test_a_stopped_sensor_keeps_its_cursor_and_resumes_from_it(stack: Stack, tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    location = AutomatedLocation.add(stack, tmp_path / "code", INBOX_SENSOR, env={"INBOX": str(inbox)})
    (inbox / "a.csv").write_text("1")
    wait_ingested(stack, location, ["a.csv"])

    assert stack.client.post(f"{location.path('inbox')}/stop").json()["status"] == "STOPPED"
    time.sleep(1)
    stopped_at = len(location.ticks("inbox"))
    (inbox / "b.csv").write_text("2")
    time.sleep(2.5)
    assert len(location.ticks("inbox")) == stopped_at
    assert ingested(stack, location) == ["a.csv"]

    assert stack.client.post(f"{location.path('inbox')}/start").json()["status"] == "RUNNING"
    wait_ingested(stack, location, ["a.csv", "b.csv"])
