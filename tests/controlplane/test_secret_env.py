"""A location's secret_env: sealed in the database, masked in every answer, real only inside Temporal payloads."""

from __future__ import annotations

import httpx
from temporalio.client import Client

from contracts.agent import LocationState, RunWorkflowInput
from tests.controlplane.conftest import JOBS, location_spec
from tests.controlplane.workflow_inspection import start_input
from tests.support.control_plane import ControlPlane
from tests.support.database import database_text


async def test_secret_env_is_stored_sealed_shown_masked_and_reaches_the_workflows(
    control_plane: ControlPlane,
    async_api: httpx.AsyncClient,
    async_agent_api: httpx.AsyncClient,
    temporal_client: Client,
    unique: str,
    queue: str,
) -> None:
    name, secret = f"sec-{unique}", f"hunter2-{unique}"
    spec = location_spec(name, queue, env={"PLAIN": "visible"}, secret_env={"DB_PASSWORD": secret})

    created = await async_api.post("/api/locations", json=spec)

    assert created.status_code == 201, created.text
    assert created.json()["spec"]["secret_env"] == {"DB_PASSWORD": "***"}
    assert created.json()["spec"]["env"] == {"PLAIN": "visible"}
    for path in (f"/api/locations/{name}", "/api/locations"):
        answer = (await async_api.get(path)).text
        assert secret not in answer and '"DB_PASSWORD":"***"' in answer.replace(" ", "")
    assert secret not in database_text(control_plane.database_url), "the database holds it sealed only"
    state = await start_input(temporal_client, f"location:{name}", LocationState)
    assert state.spec.secret_env == {"DB_PASSWORD": secret}, "the agent gets the real value (encrypted payload)"

    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}
    report["spec"] = spec  # the agent reports the spec that serves, secrets included
    assert (await async_agent_api.put(f"/api/agent/locations/{name}/report", json=report)).status_code == 200
    assert secret not in database_text(control_plane.database_url)
    run = (await async_api.post("/api/runs", json={"location": name, "job": "noop"})).json()["run"]
    launched = await start_input(temporal_client, f"run:{run['id']}", RunWorkflowInput)
    assert launched.location.secret_env == {"DB_PASSWORD": secret}


def test_a_spec_read_back_with_masks_keeps_the_stored_secrets(api: httpx.Client, unique: str, queue: str) -> None:
    name = f"keep-{unique}"
    api.post("/api/locations", json=location_spec(name, queue, secret_env={"TOKEN": "s3cret"}))
    read_back = api.get(f"/api/locations/{name}").json()["spec"]

    unchanged = api.put(f"/api/locations/{name}", json=read_back)
    masked_new = api.post("/api/locations", json=location_spec(f"new-{unique}", queue, secret_env={"X": "***"}))
    both = api.post(
        "/api/locations", json=location_spec(f"both-{unique}", queue, env={"A": "1"}, secret_env={"A": "2"})
    )

    assert unchanged.status_code == 200 and unchanged.json()["generation"] == 1, "the same spec: no redeploy"
    assert masked_new.status_code == 422 and "keeps a stored value, and none is stored" in masked_new.json()["detail"]
    assert both.status_code == 422 and "env and secret_env both set A" in both.json()["detail"]
