"""Schedules end to end: a real Temporal Schedule per schedule, ticks evaluated in the real code server by the real
agent, runs launched through the real control plane."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.support.agent import get_json, wait_for
from tests.support.automations import AutomatedLocation
from tests.support.stack import Stack

EVERY_SECOND = """
    import json, os
    from longshoreman import Definitions, Schedule, job, schedule

    @job
    def echo(context):
        context.log_event("CONFIG", json.dumps(context.config, sort_keys=True))

    @schedule(job=echo, every_s=1, config={"greeting": "hi"}, tags={"team": "data"})
    def every_second(context):
        '''Tick every second, saying when.'''
        return {"at": context.scheduled_time.isoformat()}

    schedules = [every_second]
    if os.environ.get("HOURLY", "1") == "1":
        schedules.append(Schedule(job=echo, cron="0 * * * *", timezone="Europe/Paris", name="hourly"))
    defs = Definitions(jobs=[echo], schedules=schedules)
"""


def schedule_id(location: AutomatedLocation, name: str) -> str:
    return str(location.automation(name)["temporal_id"])


async def schedule_exists(temporal_client: Client, temporal_id: str) -> bool:
    """Whether Temporal holds the Schedule (NOT_FOUND is the only error that means no)."""
    try:
        await temporal_client.get_schedule_handle(temporal_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def wait_schedules(temporal_client: Client, ids: list[str], exist: bool) -> None:
    """Wait until every one of `ids` exists in Temporal (or, with exist=False, none does)."""
    deadline = time.monotonic() + 15
    while seen := [i for i in ids if await schedule_exists(temporal_client, i) != exist]:
        assert time.monotonic() < deadline, f"schedules {seen} should {'exist' if exist else 'be gone'}"
        await asyncio.sleep(0.2)


async def test_a_schedule_every_second_launches_runs_with_its_config(
    stack: Stack, tmp_path: Path, temporal_client: Client
):
    location = AutomatedLocation.add(stack, tmp_path / "code", EVERY_SECOND)

    ticks = location.wait_ticks("every_second", 3, outcome="SUCCESS")

    for tick in ticks:
        assert len(tick["run_ids"]) == 1, tick
        run = stack.wait_run(tick["run_ids"][0])
        assert run["status"] == "SUCCESS", run
        scheduled = datetime.fromisoformat(tick["scheduled_time"])
        assert run["config"] == {"greeting": "hi", "at": scheduled.isoformat()}
        assert run["tags"]["team"] == "data"
        assert run["tags"]["longshoreman/automation"] == f"{location.name}/every_second"
        assert run["tags"]["longshoreman/tick"] == tick["tick_id"]
    # Every second has its tick: one that ran, or (on a busy machine) one the catch-up policy skipped as missed.
    first, last = ticks[0]["scheduled_time"], ticks[-1]["scheduled_time"]
    between = [t for t in location.ticks("every_second") if first <= t["scheduled_time"] <= last]
    times = [datetime.fromisoformat(t["scheduled_time"]) for t in between]
    assert all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(times)), times
    assert all(t["outcome"] == "SUCCESS" or "missed tick" in t["reason"] for t in between), between
    # The Temporal UI shows the schedule, found by its location.
    description = await temporal_client.get_schedule_handle(schedule_id(location, "every_second")).describe()
    assert description.schedule.spec.intervals[0].every.total_seconds() == 1
    assert location.name in str(description.typed_search_attributes)
    hourly = await temporal_client.get_schedule_handle(schedule_id(location, "hourly")).describe()
    assert hourly.schedule.spec.time_zone_name == "Europe/Paris"
    upcoming = hourly.info.next_action_times
    assert upcoming and all((t.minute, t.second) == (0, 0) for t in upcoming), upcoming
    assert location.automation("hourly")["definition"]["timezone"] == "Europe/Paris"


async def test_a_stopped_schedule_does_not_tick_until_started(stack: Stack, tmp_path: Path, temporal_client: Client):
    location = AutomatedLocation.add(stack, tmp_path / "code", EVERY_SECOND)
    location.wait_ticks("every_second", 1)

    stopped = stack.client.post(f"{location.path('every_second')}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "STOPPED"
    description = await temporal_client.get_schedule_handle(schedule_id(location, "every_second")).describe()
    assert description.schedule.state.paused
    await asyncio.sleep(1.5)  # a tick already started when it stopped may still finish
    before = len(location.ticks("every_second"))
    await asyncio.sleep(3)
    assert len(location.ticks("every_second")) == before

    # Stopped it stays, across a redeploy too.
    location.redeploy({"REDEPLOYED": "1"})
    await asyncio.sleep(2)
    assert location.automation("every_second")["status"] == "STOPPED"
    assert len(location.ticks("every_second")) == before

    started = stack.client.post(f"{location.path('every_second')}/start")
    assert started.json()["status"] == "RUNNING"
    location.wait_ticks("every_second", before + 2)


async def test_a_redeploy_that_removes_a_schedule_deletes_it(stack: Stack, tmp_path: Path, temporal_client: Client):
    location = AutomatedLocation.add(stack, tmp_path / "code", EVERY_SECOND)
    hourly = schedule_id(location, "hourly")
    # The row appears when the control plane follows the definitions; the Schedule a moment later.
    await wait_schedules(temporal_client, [hourly], exist=True)

    location.redeploy({"HOURLY": "0"})

    await wait_schedules(temporal_client, [hourly], exist=False)
    assert stack.client.get(location.path("hourly")).status_code == 404
    names = [a["name"] for a in get_json(stack.client, f"/api/automations?location={location.name}")["automations"]]
    assert names == ["every_second"]


async def test_removing_the_location_deletes_its_schedules(stack: Stack, tmp_path: Path, temporal_client: Client):
    location = AutomatedLocation.add(stack, tmp_path / "code", EVERY_SECOND)
    ids = [schedule_id(location, "every_second"), schedule_id(location, "hourly")]
    await wait_schedules(temporal_client, ids, exist=True)

    assert stack.client.delete(f"/api/locations/{location.name}").status_code == 202

    await wait_schedules(temporal_client, ids, exist=False)


def test_an_agent_killed_mid_tick_gives_one_run_for_it(stack: Stack, tmp_path: Path):
    gate = tmp_path / "gate"
    gate.mkdir()
    location = AutomatedLocation.add(
        stack,
        tmp_path / "code",
        f"""
        import time
        from pathlib import Path
        from longshoreman import Definitions, job, schedule

        GATE = Path({str(gate)!r})

        @job
        def once():
            pass

        @schedule(job=once, cron="0 0 1 1 *")
        def yearly(context):
            (GATE / "evaluating").touch()
            while not (GATE / "open").exists():
                time.sleep(0.05)
            return {{}}

        defs = Definitions(jobs=[once], schedules=[yearly])
        """,
    )
    location.wait_present("yearly")
    assert stack.client.post(f"{location.path('yearly')}/run-now").status_code == 202

    wait_for(lambda: (gate / "evaluating").exists(), 30, "the tick's evaluation in the code server")
    stack.agent.kill()
    stack.agent.start()
    (gate / "open").touch()

    tick = location.wait_ticks("yearly", 1, timeout_s=60)[0]
    assert tick["outcome"] == "SUCCESS", tick
    time.sleep(2)  # a second run, if there were one, would have been launched by now
    assert len(location.ticks("yearly")) == 1
    runs = get_json(stack.client, f"/api/runs?location={location.name}")["runs"]
    assert [run["id"] for run in runs] == tick["run_ids"]
    assert stack.wait_run(tick["run_ids"][0])["status"] == "SUCCESS"
