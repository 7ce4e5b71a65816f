"""Backfills end to end: one run per tick of a schedule over a range, each the run the schedule gives for that
time (the same idempotency key), at a bounded rate, with progress."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.agent import get_json, wait_for
from tests.support.automations import AutomatedLocation
from tests.support.stack import Stack

DAILY = """
    from longshoreman import Definitions, job, schedule

    @job
    def load_day(context):
        context.log_event("LOADED", context.config["day"])

    @schedule(job=load_day, cron="0 3 * * *", timezone="Europe/Paris", default_status="STOPPED")
    def daily(context):
        return {"day": context.scheduled_time.date().isoformat()}

    defs = Definitions(jobs=[load_day], schedules=[daily])
"""


def backfill(stack: Stack, location: AutomatedLocation, **body: object) -> dict[str, object]:
    answer = stack.client.post(f"{location.path('daily')}/backfills", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def wait_done(stack: Stack, location: AutomatedLocation, backfill_id: str) -> dict[str, object]:
    def probe() -> dict[str, object] | None:
        for item in get_json(stack.client, f"{location.path('daily')}/backfills")["backfills"]:
            if item["id"] == backfill_id and item["status"] == "COMPLETED":
                return dict(item)
        return None

    return wait_for(probe, 60, f"backfill {backfill_id} to complete", interval_s=0.3)


def test_a_backfill_of_20_ticks_gives_20_runs_and_issued_again_still_20(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(stack, tmp_path / "code", DAILY)
    location.wait_present("daily")
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-20T23:59:59Z", "rate_per_s": 20}

    first = backfill(stack, location, **window)
    assert first["total"] == 20 and first["status"] == "RUNNING"
    done = wait_done(stack, location, str(first["id"]))
    assert done["done"] == 20 and len(done["run_ids"]) == 20  # type: ignore[arg-type]

    again = wait_done(stack, location, str(backfill(stack, location, **window)["id"]))
    assert sorted(again["run_ids"]) == sorted(done["run_ids"])  # type: ignore[arg-type]
    runs = get_json(stack.client, f"/api/runs?location={location.name}&limit=1000")["runs"]
    assert len(runs) == 20
    # 03:00 in Paris is 02:00 UTC in winter: each run is the one for its day, at its scheduled time.
    assert sorted(run["config"]["day"] for run in runs) == [f"2026-01-{d:02d}" for d in range(1, 21)]
    assert all(run["tags"]["longshoreman/backfill"] in (first["id"], done["id"]) for run in runs)
    for run_id in done["run_ids"][:3]:  # type: ignore[index]
        assert stack.wait_run(run_id)["status"] == "SUCCESS"
    # A stopped schedule backfills all the same, and its ticks say which backfill they belong to.
    assert location.automation("daily")["status"] == "STOPPED"
    ticks = location.ticks("daily")
    assert len(ticks) == 40 and {t["backfill_id"] for t in ticks} == {first["id"], again["id"]}


def test_a_backfill_keeps_to_its_rate(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(stack, tmp_path / "code", DAILY)
    location.wait_present("daily")

    started = time.monotonic()
    created = backfill(stack, location, start="2026-02-01T00:00:00Z", end="2026-02-06T23:00:00Z", rate_per_s=2)
    wait_done(stack, location, str(created["id"]))

    # Six ticks at two a second: at least 2.5 s between the first and the last.
    assert time.monotonic() - started >= 2.5


def test_bad_backfills_are_refused_with_a_reason(stack: Stack, tmp_path: Path):
    location = AutomatedLocation.add(stack, tmp_path / "code", DAILY)
    location.wait_present("daily")
    path = f"{location.path('daily')}/backfills"

    reversed_range = stack.client.post(path, json={"start": "2026-02-02T00:00:00Z", "end": "2026-02-01T00:00:00Z"})
    assert reversed_range.status_code == 422 and "before start" in reversed_range.json()["detail"]
    empty = stack.client.post(path, json={"start": "2026-02-02T00:00:00Z", "end": "2026-02-02T01:00:00Z"})
    assert empty.status_code == 422 and "no tick" in empty.json()["detail"]
    too_many = stack.client.post(
        path, json={"start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z", "max_ticks": 10}
    )
    assert too_many.status_code == 422 and "max_ticks" in too_many.json()["detail"]
    assert get_json(stack.client, path)["backfills"] == []
