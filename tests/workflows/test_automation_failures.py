"""What goes wrong around automations: broken definitions, failing evaluations, a code server down, an agent
down past several ticks (catch-up policies). The location keeps loading and serving; each automation says why."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.agent import get_json, wait_for
from tests.support.automations import AutomatedLocation
from tests.support.stack import Stack

BROKEN = """
    from longshoreman import Definitions, RunRequest, Schedule, job, schedule, sensor

    @job(config_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    def counted(context):
        pass

    @schedule(job=counted, every_s=1)
    def fine(context):
        return {"n": 1}

    @schedule(job=counted, every_s=1)
    def bad_config(context):
        return {"n": "not a number"}

    @sensor(job=counted, minimum_interval_s=1)
    def raising(context):
        raise RuntimeError("the sensor's source is unreachable")

    @sensor(job=counted, minimum_interval_s=1)
    def garbage(context):
        return 42

    defs = Definitions(
        jobs=[counted],
        schedules=[
            fine,
            bad_config,
            Schedule(job=counted, cron="61 * * * *", name="bad_cron"),
            Schedule(job=counted, cron="0 * * * *", timezone="Mars/Olympus_Mons", name="bad_timezone"),
            Schedule(job="no_such_job", every_s=60, name="unknown_job"),
        ],
        sensors=[raising, garbage],
    )
"""


def test_broken_automations_show_their_error_and_the_rest_keeps_ticking(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(stack, tmp_path / "code", BROKEN)
    assert stack.location(location.name)["status"] == "LOADED"

    unknown = location.wait_present("unknown_job")
    assert "job 'no_such_job' is not in this location's Definitions" in unknown["error"]
    assert "unknown time zone 'Mars/Olympus_Mons'" in location.automation("bad_timezone")["error"]
    # Our own check passes `61 * * * *` (five fields); Temporal reads it and refuses it: that is the error shown.
    bad_cron = wait_for(lambda: location.automation("bad_cron")["error"] or None, 15, "the bad cron's error")
    assert "cron '61 * * * *'" in bad_cron and "Minute is not in range" in bad_cron, bad_cron

    raising = location.wait_ticks("raising", 2, outcome="FAILURE")
    assert all("RuntimeError: the sensor's source is unreachable" in t["reason"] for t in raising), raising
    garbage = location.wait_ticks("garbage", 1, outcome="FAILURE")[0]
    assert "returned int" in garbage["reason"], garbage
    refused = location.wait_ticks("bad_config", 1, outcome="FAILURE")[0]
    assert "n" in refused["reason"] and refused["run_ids"] == [], refused

    fine = location.wait_ticks("fine", 3, outcome="SUCCESS")
    assert all(len(t["run_ids"]) == 1 for t in fine)
    for broken in ("unknown_job", "bad_timezone", "bad_cron"):
        assert location.ticks(broken) == []
    assert stack.location(location.name)["status"] == "LOADED"
    # A broken automation cannot be ticked by hand either, and says why.
    answer = stack.client.post(f"{location.path('unknown_job')}/run-now")
    assert answer.status_code == 409 and "no_such_job" in answer.json()["detail"]


FLAKY_SERVER = """
    import os
    from pathlib import Path
    from longshoreman import Definitions, job, schedule

    if Path(os.environ["BROKEN_FLAG"]).exists():
        raise RuntimeError("the code cannot load right now")

    @job
    def tick_job():
        pass

    @schedule(job=tick_job, every_s=1)
    def every_second(context):
        return {}

    defs = Definitions(jobs=[tick_job], schedules=[every_second])
"""


def test_ticks_while_the_code_server_is_down_say_why_and_resume_when_it_is_back(stack: Stack, tmp_path: Path):
    flag = tmp_path / "broken"
    location = AutomatedLocation.add(stack, tmp_path / "code", FLAKY_SERVER, env={"BROKEN_FLAG": str(flag)})
    location.wait_ticks("every_second", 1, outcome="SUCCESS")

    flag.touch()
    server = stack.location(location.name)["server"]
    killed_at = datetime.now(UTC)
    os.kill(stack.server_pid(server), signal.SIGKILL)

    def ticks_while_down() -> list[dict[str, Any]] | None:
        ticks = location.ticks("every_second")
        after = [t for t in ticks if t["scheduled_time"] and datetime.fromisoformat(t["scheduled_time"]) > killed_at]
        saying_why = [t for t in after if f"code location '{location.name}' is" in t["reason"]]
        return after if len(saying_why) >= 2 else None

    # Skipped while the location is not LOADED (or, the moment the server died, failed: it did not answer; on a
    # busy machine a tick may also be skipped by the catch-up policy): never a run, always a reason.
    down = wait_for(ticks_while_down, 30, "two ticks saying the location is down", interval_s=0.2)
    assert all(t["outcome"] in ("SKIPPED", "FAILURE") and t["reason"] for t in down), down
    assert all(t["run_ids"] == [] for t in down), down

    flag.unlink()
    view = stack.location(location.name)
    if view["status"] != "LOADED":
        # However the location's restarts went meanwhile (a halted crash loop waits for a redeploy), a redeploy
        # brings it back.
        location.redeploy({"BROKEN_FLAG": str(flag), "FIXED": "1"})
    resumed_after = datetime.now(UTC)
    location.wait_ticks("every_second", 2, timeout_s=60, outcome="SUCCESS")
    later = [t for t in location.ticks("every_second") if datetime.fromisoformat(t["time"]) > resumed_after]
    assert any(t["outcome"] == "SUCCESS" for t in later), later


CATCHUP = """
    from longshoreman import Definitions, Schedule, job

    @job
    def work():
        pass

    defs = Definitions(
        jobs=[work],
        schedules=[
            Schedule(job=work, every_s=5, catchup="latest", name="latest"),
            Schedule(job=work, every_s=5, catchup="all", name="all"),
            Schedule(job=work, every_s=5, catchup="none", name="none"),
        ],
    )
"""


def test_after_a_30_s_agent_outage_the_catch_up_policy_decides_what_runs(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(stack, tmp_path / "code", CATCHUP)
    for name in ("latest", "all", "none"):
        location.wait_ticks(name, 1, outcome="SUCCESS")

    stack.agent.kill()
    down_at = datetime.now(UTC)
    time.sleep(30)
    stack.agent.start()
    back_at = datetime.now(UTC)

    def missed(name: str, enough: Callable[[list[dict[str, object]]], bool]) -> list[dict[str, object]]:
        """The ticks scheduled during the outage, once `enough` says they all are in (the agent catches up at its
        own pace: on a busy machine its start alone takes seconds)."""

        def probe() -> list[dict[str, object]] | None:
            ticks = [t for t in location.ticks(name) if _during(t, down_at, back_at)]
            return ticks if enough(ticks) else None

        return list(wait_for(probe, 60, f"{name}'s missed ticks"))

    everything = missed("all", lambda ticks: len(ticks) >= 5)
    assert all(t["outcome"] == "SUCCESS" and len(t["run_ids"]) == 1 for t in everything), everything

    latest = missed("latest", lambda ticks: sum(t["outcome"] == "SKIPPED" for t in ticks) >= 4)
    ran = [t for t in latest if t["run_ids"]]
    assert len(ran) <= 1, latest
    skipped = [t for t in latest if t["outcome"] == "SKIPPED"]
    assert all("catch-up policy 'latest'" in str(t["reason"]) for t in skipped), latest

    # "none": no tick that was already missed (due well before the agent was back) runs.
    def long_missed(ticks: list[dict[str, object]]) -> list[dict[str, object]]:
        return [t for t in ticks if _scheduled(t) < back_at - timedelta(seconds=6)]

    none = long_missed(missed("none", lambda ticks: len(long_missed(ticks)) >= 4))
    assert all(t["outcome"] == "SKIPPED" and "catch-up policy 'none'" in str(t["reason"]) for t in none), none

    runs = get_json(stack.client, f"/api/runs?location={location.name}&limit=1000")["runs"]
    assert all(run["status"] in ("QUEUED", "STARTING", "STARTED", "SUCCESS") for run in runs)


def _scheduled(tick: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(tick["scheduled_time"]))


def _during(tick: dict[str, object], start: datetime, end: datetime) -> bool:
    return start + timedelta(seconds=1) < _scheduled(tick) < end - timedelta(seconds=1)
