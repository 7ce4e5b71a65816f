"""Code locations through the real HTTP API: workflows started in the real Temporal, validation, agent reports."""

from __future__ import annotations

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from contracts.agent import LocationState
from contracts.locations import Definitions, LocationSpec
from tests.controlplane.conftest import JOBS, location_spec
from tests.controlplane.workflow_inspection import signals_received, start_input

# What a location shows until its code server has reported: nothing of any kind.
NO_DEFINITIONS = Definitions().model_dump(mode="json")


def report(name: str, seq: int, status: str = "LOADED", **extra: object) -> dict[str, object]:
    """A LocationReport body."""
    return {"name": name, "status": status, "generation": 1, "seq": seq, **extra}


async def test_create_starts_the_location_workflow(
    async_api: httpx.AsyncClient, temporal_client: Client, unique: str, queue: str
):
    name = f"loc-{unique}"
    body = location_spec(name, queue, env={"GREETING": "hi"}, port=4100)

    response = await async_api.post("/api/locations", json=body)

    assert response.status_code == 201
    view = response.json()
    assert (view["name"], view["status"], view["workflow_id"]) == (name, "STARTING", f"location:{name}")
    assert view["definitions"] == NO_DEFINITIONS
    description = await temporal_client.get_workflow_handle(f"location:{name}").describe()
    assert description.workflow_type == "CodeLocationWorkflow"
    assert description.task_queue == queue
    assert description.status == WorkflowExecutionStatus.RUNNING
    state = await start_input(temporal_client, f"location:{name}", LocationState)
    assert state == LocationState(spec=LocationSpec.model_validate(body))
    assert (await async_api.get(f"/api/locations/{name}")).json() == view


def test_duplicate_create_is_409_and_keeps_the_first(api: httpx.Client, unique: str, queue: str):
    name = f"loc-{unique}"
    assert api.post("/api/locations", json=location_spec(name, queue)).status_code == 201

    response = api.post("/api/locations", json=location_spec(name, queue, port=5000))

    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert api.get(f"/api/locations/{name}").json()["spec"]["port"] == 4000


def test_put_with_a_different_name_in_the_body_is_422(api: httpx.Client, unique: str, queue: str):
    response = api.put(f"/api/locations/path-{unique}", json=location_spec(f"body-{unique}", queue))

    assert response.status_code == 422
    assert "does not match" in response.json()["detail"]
    assert api.get(f"/api/locations/path-{unique}").status_code == 404
    assert api.get(f"/api/locations/body-{unique}").status_code == 404


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"name": "Not_A_DNS_Name"}, "name"),
        ({"module": "not a module"}, "dotted Python module path"),
        ({"port": 70000}, "port"),
        ({"launcher": "ssh"}, "launcher"),
        ({"surprise": True}, "surprise"),
        ({"health_path": "health"}, "health_path must start with '/'"),
    ],
)
def test_malformed_spec_is_422_with_a_readable_message(
    api: httpx.Client, unique: str, queue: str, change: dict[str, object], mentions: str
):
    body = {**location_spec(f"loc-{unique}", queue), **change}

    response = api.post("/api/locations", json=body)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and mentions in detail
    assert f"loc-{unique}" not in [loc["name"] for loc in api.get("/api/locations").json()["locations"]]


def test_body_that_is_not_json_is_422(api: httpx.Client):
    response = api.post("/api/locations", content=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


def test_put_creates_then_an_identical_put_changes_nothing(api: httpx.Client, unique: str, queue: str):
    name = f"loc-{unique}"
    created = api.put(f"/api/locations/{name}", json=location_spec(name, queue))
    again = api.put(f"/api/locations/{name}", json=location_spec(name, queue))

    assert created.status_code == 201
    assert again.status_code == 200
    assert again.json() == created.json()


def test_unknown_location_is_404(api: httpx.Client, unique: str):
    response = api.get(f"/api/locations/nowhere-{unique}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"code location 'nowhere-{unique}' does not exist"}


def reported(message: str) -> str:
    """The agent's own message, without the note the control plane adds while no agent polls the queue."""
    note, _, last = message.partition(" (last report: ")
    if note.startswith("no live agent on task queue"):
        return last.removesuffix(")")
    return message


def test_names_and_ids_longer_than_any_stored_one_are_simply_unknown(api: httpx.Client):
    for path in ("/api/locations/" + "x" * 300, "/api/runs/" + "r" * 300, "/api/runs/" + "r" * 300 + "/events"):
        assert api.get(path).status_code == 404, path


def test_agent_reports_apply_in_seq_order_and_store_definitions(
    api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str
):
    name = f"loc-{unique}"
    api.post("/api/locations", json=location_spec(name, queue))
    url = f"/api/agent/locations/{name}/report"

    newer = agent_api.put(url, json=report(name, 5, definitions={"jobs": JOBS}, server=f"{name}-g1-i0"))
    older = agent_api.put(url, json=report(name, 4, "UNHEALTHY", message="stale"))
    same = agent_api.put(url, json=report(name, 5, "ERROR"))

    assert [r.json()["applied"] for r in (newer, older, same)] == [True, False, False]
    view = api.get(f"/api/locations/{name}").json()
    assert (view["status"], view["server"], reported(view["message"])) == ("LOADED", f"{name}-g1-i0", "")
    assert [job["name"] for job in view["definitions"]["jobs"]] == ["greet", "noop"]

    # A report without definitions keeps the ones already known.
    unhealthy = agent_api.put(url, json=report(name, 6, "UNHEALTHY", message="probe failed", generation=2))
    assert unhealthy.json() == {"applied": True}
    view = api.get(f"/api/locations/{name}").json()
    assert (view["status"], view["generation"], reported(view["message"])) == ("UNHEALTHY", 2, "probe failed")
    assert [job["name"] for job in view["definitions"]["jobs"]] == ["greet", "noop"]


def test_report_for_another_or_unknown_location_is_rejected(
    api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str
):
    name = f"loc-{unique}"
    api.post("/api/locations", json=location_spec(name, queue))

    mismatch = agent_api.put(f"/api/agent/locations/{name}/report", json=report("other", 1))
    unknown = agent_api.put(f"/api/agent/locations/nowhere-{unique}/report", json=report(f"nowhere-{unique}", 1))

    assert mismatch.status_code == 422
    assert unknown.status_code == 404
    assert api.get(f"/api/locations/{name}").json()["status"] == "STARTING"


async def test_remove_signals_stop_and_a_stopped_location_can_be_added_again(
    async_api: httpx.AsyncClient, async_agent_api: httpx.AsyncClient, temporal_client: Client, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.post("/api/locations", json=location_spec(name, queue))
    url = f"/api/agent/locations/{name}/report"
    await async_agent_api.put(url, json=report(name, 1, definitions={"jobs": JOBS}))
    first_run = (await temporal_client.get_workflow_handle(f"location:{name}").describe()).run_id

    removed = await async_api.delete(f"/api/locations/{name}")

    assert removed.status_code == 202
    assert removed.json()["status"] == "STOPPING"
    assert await signals_received(temporal_client, f"location:{name}") == ["stop"]
    # A supervision report racing the stop does not bring the location back.
    assert (await async_agent_api.put(url, json=report(name, 2, "LOADED"))).json() == {"applied": False}
    assert (await async_agent_api.put(url, json=report(name, 3, "STOPPED"))).json() == {"applied": True}
    assert (await async_api.get(f"/api/locations/{name}")).json()["status"] == "STOPPED"

    again = await async_api.post("/api/locations", json=location_spec(name, queue, port=4200))

    assert again.status_code == 201
    view = again.json()
    assert (view["status"], view["spec"]["port"], view["definitions"]) == (
        "STARTING",
        4200,
        NO_DEFINITIONS,
    )
    description = await temporal_client.get_workflow_handle(f"location:{name}").describe()
    assert description.run_id != first_run
    state = await start_input(temporal_client, f"location:{name}", LocationState)
    assert state.spec.port == 4200
    # The report sequence starts again with the new workflow.
    assert (await async_agent_api.put(url, json=report(name, 1, "LOADED"))).json() == {"applied": True}


def test_create_that_temporal_refuses_is_503_and_stores_nothing(api: httpx.Client, unique: str):
    name = f"loc-{unique}"
    # Temporal reserves task-queue names under /_sys/, so the workflow cannot be started.
    response = api.post("/api/locations", json=location_spec(name, f"/_sys/{unique}"))

    assert response.status_code == 503
    assert "could not start workflow" in response.json()["detail"]
    assert api.get(f"/api/locations/{name}").status_code == 404


def test_a_queue_name_longer_than_the_stored_one_is_422(api: httpx.Client, unique: str):
    name = f"loc-{unique}"

    response = api.post("/api/locations", json=location_spec(name, "q" * 201))

    assert response.status_code == 422
    assert "agent_queue: String should have at most 200 characters" in response.json()["detail"]
    assert api.get(f"/api/locations/{name}").status_code == 404


def test_a_report_that_arrives_late_takes_its_place_in_the_history_but_not_the_status(
    api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str
):
    name = f"loc-{unique}"
    api.post("/api/locations", json=location_spec(name, queue))
    url = f"/api/agent/locations/{name}/report"
    for seq, status in ((1, "STARTING"), (2, "LOADED"), (4, "STARTING")):
        assert agent_api.put(url, json=report(name, seq, status)).json() == {"applied": True}

    # The crash report (seq 3) was retried and lands after the restart's STARTING (seq 4); and once more.
    late = [agent_api.put(url, json=report(name, 3, "UNHEALTHY", message="crashed")) for _ in range(2)]

    assert [r.json()["applied"] for r in late] == [False, False]
    assert api.get(f"/api/locations/{name}").json()["status"] == "STARTING"
    history = [(e["status"], e["message"]) for e in api.get(f"/api/locations/{name}/events").json()["events"]]
    assert [status for status, _ in history] == ["STARTING", "LOADED", "UNHEALTHY", "STARTING"], history
    assert history[2][1] == "crashed"
