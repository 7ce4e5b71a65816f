"""Automations through the control plane's real HTTP API (SQLite and PostgreSQL), with a pretend agent: rows
follow the reported definitions, Temporal Schedules follow the rows, statuses survive redeploys, ticks are
stored once, and bad requests are refused with a reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from tests.controlplane.conftest import JOBS, location_spec

HOURLY = {"name": "hourly", "job": "greet", "cron": "0 * * * *", "config": {"name": "cron"}}
WATCH = {"name": "watch", "job": "noop", "minimum_interval_s": 30}


def report_body(name: str, seq: int, status: str = "LOADED", **definitions: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "generation": seq, "seq": seq, "definitions": {"jobs": JOBS, **definitions}}


def automated(api: httpx.Client, agent_api: httpx.Client, name: str, queue: str, **definitions: Any) -> None:
    """Add the location, report its definitions, and wait until the control plane follows them (in the background)."""
    assert api.post("/api/locations", json=location_spec(name, queue)).status_code == 201
    report = report_body(name, 1, **definitions)
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    expected = {item["name"] for kind in ("schedules", "sensors") for item in definitions.get(kind, [])}
    deadline = time.monotonic() + 10
    while {a["name"] for a in api.get("/api/automations", params={"location": name}).json()["automations"]} != expected:
        assert time.monotonic() < deadline, f"the automations of {name} never became {expected}"
        time.sleep(0.05)


class Automations:
    """The async API of one location's automations (for tests that also wait on Temporal)."""

    def __init__(self, api: httpx.AsyncClient, agent_api: httpx.AsyncClient, name: str) -> None:
        self.api, self.agent_api, self.name = api, agent_api, name

    async def add(self, queue: str, **definitions: Any) -> None:
        assert (await self.api.post("/api/locations", json=location_spec(self.name, queue))).status_code == 201
        await self.report(1, **definitions)

    async def report(self, seq: int, **definitions: Any) -> None:
        path = f"/api/agent/locations/{self.name}/report"
        answer = await self.agent_api.put(path, json=report_body(self.name, seq, **definitions))
        assert answer.json() == {"applied": True}

    async def listed(self) -> dict[str, dict[str, Any]]:
        answer = await self.api.get("/api/automations", params={"location": self.name})
        assert answer.status_code == 200, answer.text
        return {a["name"]: a for a in answer.json()["automations"]}

    async def wait_listed(self, check: Any, what: str) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + 10
        while not check(rows := await self.listed()):
            assert time.monotonic() < deadline, f"{what}: {rows}"
            await asyncio.sleep(0.1)
        return rows


async def schedule_state(temporal_client: Client, name: str) -> str:
    """'paused', 'active' or 'absent': what Temporal holds for the location's hourly schedule."""
    try:
        described = await temporal_client.get_schedule_handle(f"automation:{name}:hourly").describe()
    except RPCError:
        return "absent"
    return "paused" if described.schedule.state.paused else "active"


async def wait_schedule(temporal_client: Client, name: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while (seen := await schedule_state(temporal_client, name)) != state:
        assert time.monotonic() < deadline, f"schedule of {name} is {seen}, expected {state}"
        await asyncio.sleep(0.1)


async def test_automations_follow_the_reported_definitions_and_keep_a_users_status(
    async_api: httpx.AsyncClient, async_agent_api: httpx.AsyncClient, temporal_client: Client, unique: str, queue: str
):
    name = f"auto-{unique}"
    automations = Automations(async_api, async_agent_api, name)
    await automations.add(queue, schedules=[HOURLY], sensors=[WATCH])

    rows = await automations.wait_listed(lambda rows: len(rows) == 2, "two automations")
    assert rows["hourly"]["kind"] == "schedule" and rows["hourly"]["status"] == "RUNNING"
    assert rows["hourly"]["temporal_id"] == f"automation:{name}:hourly"
    assert rows["watch"]["kind"] == "sensor" and rows["watch"]["job"] == "noop"
    await wait_schedule(temporal_client, name, "active")

    stopped = await async_api.post(f"/api/automations/{name}/hourly/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "STOPPED"
    await wait_schedule(temporal_client, name, "paused")

    # A redeploy that changes the schedule keeps the status the user set; one that drops it deletes it.
    await automations.report(2, schedules=[HOURLY | {"config": {"name": "changed"}}], sensors=[WATCH])
    rows = await automations.wait_listed(
        lambda rows: rows["hourly"]["definition"]["config"] == {"name": "changed"}, "the changed definition"
    )
    assert rows["hourly"]["status"] == "STOPPED"
    await wait_schedule(temporal_client, name, "paused")
    await automations.report(3, sensors=[WATCH])
    await wait_schedule(temporal_client, name, "absent")
    assert set(await automations.listed()) == {"watch"}
    assert (await async_api.get(f"/api/automations/{name}/hourly")).status_code == 404


async def test_a_stopping_location_removes_its_automations(
    async_api: httpx.AsyncClient, async_agent_api: httpx.AsyncClient, temporal_client: Client, unique: str, queue: str
):
    name = f"auto-{unique}"
    automations = Automations(async_api, async_agent_api, name)
    await automations.add(queue, schedules=[HOURLY])
    await wait_schedule(temporal_client, name, "active")

    assert (await async_api.delete(f"/api/locations/{name}")).status_code == 202

    await wait_schedule(temporal_client, name, "absent")
    await automations.wait_listed(lambda rows: rows == {}, "no automation left")


def test_a_tick_is_stored_once_and_only_by_an_agent_of_its_queue(
    api: httpx.Client, agent_api: httpx.Client, control_plane: Any, unique: str, queue: str
):
    name = f"auto-{unique}"
    automated(api, agent_api, name, queue, schedules=[HOURLY])
    tick = {"tick_id": f"tick:{name}:hourly-1", "kind": "schedule", "outcome": "SKIPPED", "reason": "nothing"}
    path = f"/api/agent/automations/{name}/hourly/ticks/{tick['tick_id']}"

    assert agent_api.put(path, json=tick).json() == {"applied": True}
    assert agent_api.put(path, json=tick).json() == {"applied": False}
    ticks = api.get(f"/api/automations/{name}/hourly/ticks").json()["ticks"]
    assert [(t["tick_id"], t["outcome"], t["reason"]) for t in ticks] == [(tick["tick_id"], "SKIPPED", "nothing")]
    assert api.get(f"/api/automations/{name}/hourly").json()["last_tick"]["tick_id"] == tick["tick_id"]

    other = control_plane.create_agent_token(f"other-{unique}", queues=[f"{queue}-other"])
    with control_plane.client(other) as foreign:
        refused = foreign.put(path.replace("hourly-1", "hourly-2"), json=tick | {"tick_id": f"tick:{name}:hourly-2"})
        assert refused.status_code == 403, refused.text
        runs = foreign.post(
            f"/api/agent/automations/{name}/hourly/runs",
            json={"kind": "schedule", "tick_id": "t", "runs": [{"idempotency_key": f"k-{unique}"}]},
        )
        assert runs.status_code == 403
    # Users do not report ticks.
    assert api.put(path, json=tick).status_code == 403
    mismatch = agent_api.put(path, json=tick | {"tick_id": "another"})
    assert mismatch.status_code == 422 and "another" in mismatch.json()["detail"]


def test_tick_runs_are_tagged_idempotent_and_refused_one_by_one(
    api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str
):
    name = f"auto-{unique}"
    automated(api, agent_api, name, queue, schedules=[HOURLY])
    body = {
        "kind": "schedule",
        "tick_id": f"tick:{name}:hourly-1",
        "runs": [
            {
                "config": {"name": "a"},
                "tags": {"longshoreman/tick": "forged", "team": "x"},
                "idempotency_key": f"k1-{unique}",
            },
            {"config": {"times": "many"}, "idempotency_key": f"k2-{unique}"},
        ],
    }
    path = f"/api/agent/automations/{name}/hourly/runs"

    first = agent_api.post(path, json=body).json()
    again = agent_api.post(path, json=body).json()

    assert len(first["run_ids"]) == 1 and first["run_ids"] == again["run_ids"]
    assert len(first["errors"]) == 1 and first["errors"][0].startswith("run request 1:"), first
    run = api.get(f"/api/runs/{first['run_ids'][0]}").json()
    assert run["job"] == "greet" and run["config"] == {"name": "a"}
    assert run["tags"] == {
        "team": "x",
        "longshoreman/automation": f"{name}/hourly",
        "longshoreman/tick": f"tick:{name}:hourly-1",
    }
    wrong_kind = agent_api.post(path, json=body | {"kind": "sensor"})
    assert wrong_kind.status_code == 422


def test_bad_requests_are_refused_with_a_reason(api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str):
    name = f"auto-{unique}"
    automated(api, agent_api, name, queue, schedules=[HOURLY], sensors=[WATCH])

    missing = api.post(f"/api/automations/{name}/nope/start")
    assert missing.status_code == 404 and "has no automation 'nope'" in missing.json()["detail"]
    sensor_now = api.post(f"/api/automations/{name}/watch/run-now")
    assert sensor_now.status_code == 422 and "only schedules" in sensor_now.json()["detail"]
    sensor_backfill = api.post(
        f"/api/automations/{name}/watch/backfills",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
    )
    assert sensor_backfill.status_code == 422
    bad_body = api.post(f"/api/automations/{name}/hourly/backfills", json={"start": "yesterday"})
    assert bad_body.status_code == 422
    reserved = api.post("/api/runs", json={"location": name, "job": "noop", "tags": {"longshoreman/tick": "x"}})
    assert reserved.status_code == 422 and "set by Longshoreman only" in reserved.json()["detail"]
    assert api.get(f"/api/automations/{name}/hourly/ticks", params={"limit": 0}).status_code == 422
