"""Redeploy and remove against a stand-in location workflow served by a real worker on a real Temporal server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from contracts.locations import LocationSpec
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.conftest import location_spec
from tests.controlplane.standin_location_workflow import REJECTED_MODULE, StandInLocationWorkflow
from tests.support.control_plane import ControlPlane


@pytest.fixture
async def standin_worker(temporal_client: Client, queue: str) -> AsyncIterator[Worker]:
    """A worker serving the stand-in location workflow on this test's queue."""
    worker = Worker(
        temporal_client,
        task_queue=queue,
        workflows=[StandInLocationWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        yield worker


async def redeployed(client: Client, name: str) -> list[LocationSpec]:
    """Specs the workflow received through the redeploy update."""
    specs: list[LocationSpec] = await client.get_workflow_handle(f"location:{name}").query(
        "redeployed", result_type=list[LocationSpec]
    )
    return specs


async def test_put_with_a_changed_spec_redeploys(
    async_api: httpx.AsyncClient, temporal_client: Client, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.put(f"/api/locations/{name}", json=location_spec(name, queue))
    changed = location_spec(name, queue, env={"VERSION": "2"})

    response = await async_api.put(f"/api/locations/{name}", json=changed)

    assert response.status_code == 200
    assert response.json()["spec"]["env"] == {"VERSION": "2"}
    assert await redeployed(temporal_client, name) == [LocationSpec.model_validate(changed)]
    assert (await async_api.get(f"/api/locations/{name}")).json()["spec"]["env"] == {"VERSION": "2"}


async def test_redeploy_endpoint_sends_the_current_or_the_given_spec(
    async_api: httpx.AsyncClient, temporal_client: Client, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    original = location_spec(name, queue)
    await async_api.post("/api/locations", json=original)
    new = location_spec(name, queue, port=4321)

    same = await async_api.post(f"/api/locations/{name}/redeploy")
    given = await async_api.post(f"/api/locations/{name}/redeploy", json={"spec": new})

    assert (same.status_code, given.status_code) == (202, 202)
    assert given.json()["spec"]["port"] == 4321
    assert await redeployed(temporal_client, name) == [LocationSpec.model_validate(s) for s in (original, new)]


async def test_redeploy_rejected_by_the_workflow_is_409_and_keeps_the_spec(
    async_api: httpx.AsyncClient, temporal_client: Client, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.post("/api/locations", json=location_spec(name, queue))

    response = await async_api.put(f"/api/locations/{name}", json=location_spec(name, queue, module=REJECTED_MODULE))

    assert response.status_code == 409
    assert f"module {REJECTED_MODULE} cannot be deployed" in response.json()["detail"]
    assert (await async_api.get(f"/api/locations/{name}")).json()["spec"]["module"] == "examples.hello.definitions"
    assert await redeployed(temporal_client, name) == []


async def test_redeploy_with_another_name_is_422(
    async_api: httpx.AsyncClient, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.post("/api/locations", json=location_spec(name, queue))

    response = await async_api.post(
        f"/api/locations/{name}/redeploy", json={"spec": location_spec(f"x-{unique}", queue)}
    )

    assert response.status_code == 422


async def test_remove_finishes_the_workflow_and_then_nothing_can_be_redeployed(
    async_api: httpx.AsyncClient, temporal_client: Client, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.post("/api/locations", json=location_spec(name, queue))

    assert (await async_api.delete(f"/api/locations/{name}")).json()["status"] == "STOPPING"
    await temporal_client.get_workflow_handle(f"location:{name}").result()
    description = await temporal_client.get_workflow_handle(f"location:{name}").describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED

    # The workflow is gone, so removing again settles the location as STOPPED.
    assert (await async_api.delete(f"/api/locations/{name}")).json()["status"] == "STOPPED"
    refused = await async_api.post(f"/api/locations/{name}/redeploy")
    assert refused.status_code == 409
    assert "STOPPED" in refused.json()["detail"]


def test_redeploy_nobody_accepts_is_503_and_keeps_the_spec(
    temporal_server: TemporalDevServer, tmp_path: Path, unique: str, queue: str, fresh_database_url: str
):
    plane = ControlPlane.start(
        temporal_server.address,
        tmp_path,
        extra_env={"LONGSHOREMAN_TEMPORAL_UPDATE_TIMEOUT_S": "0.5"},
        database_url=fresh_database_url,
    )
    name = f"loc-{unique}"
    try:
        with plane.client() as api:
            api.post("/api/locations", json=location_spec(name, queue))

            response = api.post(f"/api/locations/{name}/redeploy", json={"spec": location_spec(name, queue, port=9)})

            assert response.status_code == 503
            assert f"is an agent serving task queue '{queue}' running?" in response.json()["detail"]
            assert api.get(f"/api/locations/{name}").json()["spec"]["port"] == 4000
    finally:
        plane.stop()


async def test_a_redeploy_may_not_move_a_location_to_another_agent_queue(
    async_api: httpx.AsyncClient, temporal_client: Client, standin_worker: Worker, unique: str, queue: str
):
    name = f"loc-{unique}"
    await async_api.post("/api/locations", json=location_spec(name, queue))

    moved = await async_api.put(f"/api/locations/{name}", json=location_spec(name, f"other-{unique}"))

    assert moved.status_code == 422
    assert moved.json()["detail"].startswith(f"agent_queue cannot change on a redeploy (from '{queue}' to 'other-")
    assert (await async_api.get(f"/api/locations/{name}")).json()["spec"]["agent_queue"] == queue
    assert await redeployed(temporal_client, name) == []


async def test_concurrent_redeploys_through_two_replicas_store_the_spec_the_workflow_got_last(
    control_plane: ControlPlane,
    temporal_server: TemporalDevServer,
    temporal_client: Client,
    standin_worker: Worker,
    unique: str,
    queue: str,
    tmp_path: Path,
):
    name = f"loc-{unique}"
    replica = ControlPlane.start(temporal_server.address, tmp_path, database_url=control_plane.database_url)
    try:
        clients = [
            httpx.AsyncClient(base_url=plane.url, headers={"Authorization": f"Bearer {plane.admin_token}"}, timeout=60)
            for plane in (control_plane, replica)
        ]
        await clients[0].post("/api/locations", json=location_spec(name, queue))
        for round_ in range(3):
            specs = [location_spec(name, queue, env={"VERSION": f"{round_}-{i}"}) for i in range(6)]
            answers = await asyncio.gather(
                *(clients[i % 2].put(f"/api/locations/{name}", json=spec) for i, spec in enumerate(specs))
            )
            assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
            last = (await redeployed(temporal_client, name))[-1]
            for client in clients:
                stored = (await client.get(f"/api/locations/{name}")).json()["spec"]
                assert LocationSpec.model_validate(stored) == last, f"round {round_}: stored {stored['env']}"
        for client in clients:
            await client.aclose()
    finally:
        replica.stop()
