"""Runs through the real HTTP API: launch validation, RunWorkflow start, idempotency, cancel, report rules."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from contracts.agent import RunWorkflowInput
from contracts.locations import LocationSpec
from contracts.runs import RunRequest
from tests.controlplane.conftest import location_spec
from tests.controlplane.workflow_inspection import history_event_types, start_input
from tests.support.control_plane import ControlPlane

Launch = Callable[..., dict[str, Any]]


def runs_of(api: httpx.Client, location: str) -> list[dict[str, Any]]:
    """Every stored run of a location."""
    runs: list[dict[str, Any]] = api.get("/api/runs", params={"location": location}).json()["runs"]
    return runs


def test_launch_errors_are_explained_and_store_nothing(
    api: httpx.Client, loaded_location: str, unique: str, queue: str
):
    starting = f"starting-{unique}"
    api.post("/api/locations", json=location_spec(starting, queue))
    cases = [
        ({"location": f"nowhere-{unique}", "job": "greet"}, 404, f"code location 'nowhere-{unique}' does not exist"),
        ({"location": starting, "job": "greet"}, 409, "has not reported its definitions yet"),
        ({"location": loaded_location, "job": "missing"}, 422, "job 'missing' not found"),
        ({"location": loaded_location, "job": "greet", "config": {}}, 422, "'name' is a required property"),
        ({"location": loaded_location, "job": "greet", "config": {"name": "x", "times": 0}}, 422, "config['times']"),
        ({"location": loaded_location, "job": "greet", "config": {"name": 1}}, 422, "is not of type 'string'"),
        ({"location": loaded_location, "job": "greet", "start_timeout_s": -1}, 422, "start_timeout_s"),
    ]
    for body, status, message in cases:
        response = api.post("/api/runs", json=body)
        assert (response.status_code, message in response.json()["detail"]) == (status, True), response.text

    for location in (f"nowhere-{unique}", starting, loaded_location):
        assert runs_of(api, location) == []


async def test_launch_starts_the_run_workflow(
    async_api: httpx.AsyncClient, temporal_client: Client, loaded_location: str, queue: str
):
    body = {"location": loaded_location, "job": "greet", "config": {"name": "Ada"}, "tags": {"team": "data"}}

    response = await async_api.post("/api/runs", json=body)

    assert response.status_code == 201
    launched = response.json()
    run = launched["run"]
    assert launched["created"] is True
    assert (run["status"], run["job"], run["config"], run["tags"]) == ("QUEUED", "greet", {"name": "Ada"}, body["tags"])
    assert run["workflow_id"] == f"run:{run['id']}"
    description = await temporal_client.get_workflow_handle(f"run:{run['id']}").describe()
    assert (description.workflow_type, description.task_queue) == ("RunWorkflow", queue)
    assert description.status == WorkflowExecutionStatus.RUNNING
    workflow_input = await start_input(temporal_client, f"run:{run['id']}", RunWorkflowInput)
    assert workflow_input == RunWorkflowInput(
        run_id=run["id"],
        request=RunRequest.model_validate(body),
        location=LocationSpec.model_validate(location_spec(loaded_location, queue)),
    )
    assert (await async_api.get(f"/api/runs/{run['id']}")).json() == run


def test_run_ids_are_short_url_safe_and_time_sortable(launch: Launch):
    ids = [launch()["id"] for _ in range(3)]

    assert ids == sorted(ids)
    assert all(re.fullmatch(r"[0-9a-f]{20}", i) for i in ids)


def test_list_filters_and_orders_newest_first(api: httpx.Client, launch: Launch, loaded_location: str):
    first = launch("noop")
    second = launch("greet", config={"name": "x"})
    third = launch("noop")

    every = [r["id"] for r in runs_of(api, loaded_location)]
    noops = api.get("/api/runs", params={"location": loaded_location, "job": "noop"}).json()["runs"]
    latest = api.get("/api/runs", params={"location": loaded_location, "limit": 1}).json()["runs"]
    queued = api.get("/api/runs", params={"location": loaded_location, "status": "QUEUED"}).json()["runs"]
    done = api.get("/api/runs", params={"location": loaded_location, "status": "SUCCESS"}).json()["runs"]

    assert every == [third["id"], second["id"], first["id"]]
    assert [r["id"] for r in noops] == [third["id"], first["id"]]
    assert [r["id"] for r in latest] == [third["id"]]
    assert len(queued) == 3 and done == []
    assert api.get("/api/runs/nope").status_code == 404


def test_same_idempotency_key_twice_gives_one_run(api: httpx.Client, loaded_location: str, unique: str):
    body = {"location": loaded_location, "job": "noop", "idempotency_key": f"key-{unique}"}

    first = api.post("/api/runs", json=body)
    second = api.post("/api/runs", json=body)

    assert (first.status_code, second.status_code) == (201, 200)
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    assert second.json()["run"] == first.json()["run"]
    assert len(runs_of(api, loaded_location)) == 1


def test_an_idempotency_key_with_a_nul_character_finds_its_run_again(
    api: httpx.Client, loaded_location: str, unique: str
):
    body = {"location": loaded_location, "job": "noop", "idempotency_key": f"nul\x00{unique}"}

    first = api.post("/api/runs", json=body)
    second = api.post("/api/runs", json=body)

    assert (first.status_code, second.status_code) == (201, 200), first.text
    assert second.json()["run"]["id"] == first.json()["run"]["id"]


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_launches_with_one_key_give_one_run(
    control_plane: ControlPlane, loaded_location: str, unique: str, attempt: int
):
    body = {"location": loaded_location, "job": "noop", "idempotency_key": f"race-{unique}-{attempt}"}
    barrier = threading.Barrier(2)
    responses: list[httpx.Response] = []

    def launch() -> None:
        with control_plane.client() as client:
            barrier.wait()
            responses.append(client.post("/api/runs", json=body))

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [200, 201]
    assert len({r.json()["run"]["id"] for r in responses}) == 1
    with control_plane.client() as client:
        assert len(runs_of(client, loaded_location)) == 1


def test_run_config_over_the_size_limit_is_422_and_never_reaches_temporal(api: httpx.Client, loaded_location: str):
    # Temporal would refuse a payload this big (2 MB); the control plane refuses it first, and stores nothing.
    # (A workflow Temporal cannot start is 503 and removed: tests/faults/test_temporal_restarted.py.)
    body = {"location": loaded_location, "job": "noop", "config": {"blob": "x" * (3 * 1024 * 1024)}}

    response = api.post("/api/runs", json=body)

    assert response.status_code == 422
    assert "config is 3145739 bytes as JSON; the limit is 65536 bytes" in response.json()["detail"]
    assert runs_of(api, loaded_location) == []


async def test_cancel_requests_workflow_cancellation(
    async_api: httpx.AsyncClient, async_agent_api: httpx.AsyncClient, temporal_client: Client, launch: Launch
):
    run = launch()

    response = await async_api.post(f"/api/runs/{run['id']}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "CANCELING"
    description = await temporal_client.get_workflow_handle(f"run:{run['id']}").describe()
    assert description.raw_description.workflow_extended_info.cancel_requested
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in await history_event_types(
        temporal_client, f"run:{run['id']}"
    )
    # The agent reports the outcome; a finished run cannot be canceled any more.
    report = {"run_id": run["id"], "status": "CANCELED", "seq": 1, "reason": "canceled by user"}
    assert (await async_agent_api.put(f"/api/agent/runs/{run['id']}/report", json=report)).json() == {"applied": True}
    again = await async_api.post(f"/api/runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert "already finished" in again.json()["detail"]
    assert (await async_api.post("/api/runs/unknown-run/cancel")).status_code == 404


def test_run_reports_follow_seq_and_never_leave_a_terminal_status(
    api: httpx.Client, agent_api: httpx.Client, launch: Launch
):
    run_id = launch()["id"]
    url = f"/api/agent/runs/{run_id}/report"

    def send(seq: int, status: str, **extra: Any) -> bool:
        response = agent_api.put(url, json={"run_id": run_id, "status": status, "seq": seq, **extra})
        assert response.status_code == 200, response.text
        applied: bool = response.json()["applied"]
        return applied

    assert send(1, "STARTING")
    assert not send(1, "STARTED")  # same seq: already seen
    assert send(3, "STARTED", attempt=2, worker=f"run-{run_id}-a2")
    assert not send(2, "FAILURE")  # older than what is stored
    started = api.get(f"/api/runs/{run_id}").json()
    assert (started["status"], started["attempt"]) == ("STARTED", 2)
    assert started["started_at"] is not None and started["finished_at"] is None

    assert send(4, "FAILURE", attempt=2, reason="exit code 1: ValueError: boom")
    assert not send(5, "STARTED")
    assert not send(6, "SUCCESS")
    finished = api.get(f"/api/runs/{run_id}").json()
    assert (finished["status"], finished["reason"]) == ("FAILURE", "exit code 1: ValueError: boom")
    assert finished["finished_at"] is not None


def test_starting_an_attempt_marks_the_run_starting(api: httpx.Client, agent_api: httpx.Client, launch: Launch):
    run_id = launch()["id"]

    def start(attempt: int) -> tuple[str, int]:
        response = agent_api.post(f"/api/agent/runs/{run_id}/token", json={"attempt": attempt})
        assert response.status_code == 200 and response.json()["token"], response.text
        view = api.get(f"/api/runs/{run_id}").json()
        return view["status"], view["attempt"]

    assert start(1) == ("STARTING", 1)
    report = {"run_id": run_id, "status": "STARTED", "seq": 1, "attempt": 1}
    assert agent_api.put(f"/api/agent/runs/{run_id}/report", json=report).json()["applied"]
    assert start(1) == ("STARTED", 1)  # a retried launch of the same attempt changes nothing
    assert start(2) == ("STARTING", 2)  # a new attempt after an infrastructure failure
    final = {"run_id": run_id, "status": "FAILURE", "seq": 2, "attempt": 2, "reason": "lost"}
    assert agent_api.put(f"/api/agent/runs/{run_id}/report", json=final).json()["applied"]
    assert start(3) == ("FAILURE", 2)  # terminal stays terminal


def test_canceling_run_only_moves_to_a_terminal_status(api: httpx.Client, agent_api: httpx.Client, launch: Launch):
    run_id = launch()["id"]
    url = f"/api/agent/runs/{run_id}/report"
    agent_api.put(url, json={"run_id": run_id, "status": "STARTED", "seq": 1})
    api.post(f"/api/runs/{run_id}/cancel")

    late_progress = agent_api.put(url, json={"run_id": run_id, "status": "STARTED", "seq": 2})
    canceled = agent_api.put(url, json={"run_id": run_id, "status": "CANCELED", "seq": 3, "reason": "SIGTERM"})

    assert (late_progress.json()["applied"], canceled.json()["applied"]) == (False, True)
    assert api.get(f"/api/runs/{run_id}").json()["status"] == "CANCELED"


def test_report_for_another_or_unknown_run_is_rejected(agent_api: httpx.Client, launch: Launch):
    run_id = launch()["id"]

    mismatch = agent_api.put(f"/api/agent/runs/{run_id}/report", json={"run_id": "x", "status": "STARTED", "seq": 1})
    unknown = agent_api.put("/api/agent/runs/nope/report", json={"run_id": "nope", "status": "STARTED", "seq": 1})

    assert (mismatch.status_code, unknown.status_code) == (422, 404)


async def test_waiting_for_a_run_returns_as_soon_as_its_final_report_lands(
    async_api: httpx.AsyncClient, agent_api: httpx.Client, launch: Launch
):
    run_id = launch()["id"]
    waiting = asyncio.ensure_future(async_api.get(f"/api/runs/{run_id}/wait", params={"timeout_s": 30}))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # not finished: the request is held
    report = {"run_id": run_id, "status": "SUCCESS", "seq": 1}
    assert (await asyncio.to_thread(agent_api.put, f"/api/agent/runs/{run_id}/report", json=report)).status_code == 200
    answer = await asyncio.wait_for(waiting, 5)
    assert answer.status_code == 200 and answer.json()["status"] == "SUCCESS"

    again = await async_api.get(f"/api/runs/{run_id}/wait")  # already finished: at once
    assert again.json()["status"] == "SUCCESS"


async def test_waiting_gives_the_live_run_after_the_timeout_and_rejects_bad_input(
    async_api: httpx.AsyncClient, launch: Launch
):
    run_id = launch()["id"]
    live = await async_api.get(f"/api/runs/{run_id}/wait", params={"timeout_s": 0.2})
    assert live.status_code == 200 and live.json()["status"] == "QUEUED"
    too_long = await async_api.get(f"/api/runs/{run_id}/wait", params={"timeout_s": 3600})
    assert too_long.status_code == 422 and "timeout_s" in too_long.text
    unknown = await async_api.get("/api/runs/nope/wait", params={"timeout_s": 1})
    assert unknown.status_code == 404 and "does not exist" in unknown.json()["detail"]
