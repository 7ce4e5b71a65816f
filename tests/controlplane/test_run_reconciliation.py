"""The control plane's run monitor: closed workflows end their runs, queued runs say why they wait, time out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.agent import wait_for

Launch = Callable[..., dict[str, Any]]


def run_of(api: httpx.Client, run_id: str) -> dict[str, Any]:
    """GET a run."""
    run: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
    return run


async def test_cancel_of_a_run_whose_workflow_already_closed_does_not_leave_it_canceling(
    async_api: httpx.AsyncClient, launch: Launch, temporal_client: Client
) -> None:
    run_id = launch()["id"]
    await temporal_client.get_workflow_handle(f"run:{run_id}").terminate(reason="gone")

    response = await async_api.post(f"/api/runs/{run_id}/cancel")

    assert response.status_code == 409, response.text
    assert "workflow terminated" in response.json()["detail"], response.text
    run = (await async_api.get(f"/api/runs/{run_id}")).json()
    assert run["status"] == "FAILURE" and run["reason"].startswith("workflow terminated"), run


async def test_a_workflow_terminated_from_outside_ends_its_run_within_seconds(
    api: httpx.Client, launch: Launch, temporal_client: Client
) -> None:
    run_id = launch()["id"]
    await temporal_client.get_workflow_handle(f"run:{run_id}").terminate(reason="operator cleanup")

    run = wait_for(lambda: (r := run_of(api, run_id))["status"] != "QUEUED" and r, 5, "the run to end")

    assert run["status"] == "FAILURE", run
    assert "operator cleanup" in run["reason"], run["reason"]


def test_a_run_no_agent_polls_for_says_so(api: httpx.Client, launch: Launch, queue: str) -> None:
    run_id = launch()["id"]

    run = wait_for(lambda: (r := run_of(api, run_id))["message"] and r, 15, "a status message")

    assert run["status"] == "QUEUED"
    assert run["message"] == f"waiting for an agent: no agent is polling task queue '{queue}'"
    listed = api.get("/api/runs", params={"status": "QUEUED", "limit": 1000}).json()["runs"]
    assert any(r["id"] == run_id and r["message"] == run["message"] for r in listed)


async def test_the_queued_timeout_fails_a_run_no_agent_started(
    api: httpx.Client, launch: Launch, temporal_client: Client
) -> None:
    run_id = launch(queued_timeout_s=3)["id"]

    run = wait_for(lambda: (r := run_of(api, run_id))["status"] != "QUEUED" and r, 20, "the queued timeout")

    assert run["status"] == "FAILURE", run
    assert run["reason"].startswith("queued timeout: the run did not start within 3 s"), run["reason"]
    assert "no agent is polling" in run["reason"], run["reason"]
    description = await temporal_client.get_workflow_handle(f"run:{run_id}").describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED, "no agent may start it later"
