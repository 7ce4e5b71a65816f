"""An agent token serves its task queues only: it may not report on, or start, work of another queue."""

from __future__ import annotations

from typing import Any

import httpx

from tests.controlplane.conftest import JOBS, location_spec
from tests.support.control_plane import ControlPlane


def loaded_report(name: str) -> dict[str, Any]:
    """A LOADED report with the test definitions."""
    return {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}


def test_an_agent_token_reports_only_on_locations_of_its_queues(
    control_plane: ControlPlane, api: httpx.Client, unique: str
) -> None:
    mine, theirs = f"mine-{unique}", f"theirs-{unique}"
    assert api.post("/api/locations", json=location_spec(mine, f"team-a-{unique}")).status_code == 201
    assert api.post("/api/locations", json=location_spec(theirs, f"team-b-{unique}")).status_code == 201
    token = control_plane.create_agent_token(f"a-{unique}", queues=["team-a-*"])

    with control_plane.client(token) as agent:
        allowed = agent.put(f"/api/agent/locations/{mine}/report", json=loaded_report(mine))
        refused = agent.put(f"/api/agent/locations/{theirs}/report", json=loaded_report(theirs))

    assert allowed.json() == {"applied": True}
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == (
        f"this agent token serves task queue(s) team-a-*; code location '{theirs}' is on queue 'team-b-{unique}'"
    )
    assert api.get(f"/api/locations/{theirs}").json()["status"] == "STARTING", "nothing of the refusal was stored"


def test_an_agent_token_of_another_queue_gets_no_run_token_and_cannot_report_on_the_run(
    control_plane: ControlPlane, api: httpx.Client, agent_api: httpx.Client, unique: str
) -> None:
    name = f"runs-{unique}"
    assert api.post("/api/locations", json=location_spec(name, f"q-{unique}")).status_code == 201
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=loaded_report(name)).status_code == 200
    run = api.post("/api/runs", json={"location": name, "job": "noop"}).json()["run"]
    assert run["queue"] == f"q-{unique}"
    stranger = control_plane.create_agent_token(f"other-{unique}", queues=[f"elsewhere-{unique}"])

    with control_plane.client(stranger) as agent:
        token = agent.post(f"/api/agent/runs/{run['id']}/token", json={"attempt": 1})
        report = agent.put(
            f"/api/agent/runs/{run['id']}/report", json={"run_id": run["id"], "status": "SUCCESS", "seq": 1}
        )

    assert (token.status_code, report.status_code) == (403, 403)
    assert f"run {run['id']} is on queue 'q-{unique}'" in token.json()["detail"]
    assert api.get(f"/api/runs/{run['id']}").json()["status"] == "QUEUED"


def test_agent_tokens_default_to_the_default_queue_and_admin_tokens_serve_none(api: httpx.Client, unique: str) -> None:
    agent = api.post("/api/tokens", json={"kind": "agent", "name": f"d-{unique}"})
    admin = api.post("/api/tokens", json={"kind": "admin", "name": f"x-{unique}", "queues": ["q"]})
    bad = api.post("/api/tokens", json={"kind": "agent", "name": f"b-{unique}", "queues": ["no spaces"]})

    assert agent.status_code == 201 and agent.json()["queues"] == ["longshoreman"]
    assert admin.status_code == 422 and "only agent tokens serve task queues" in admin.json()["detail"]
    assert bad.status_code == 422
    listed = {t["id"]: t for t in api.get("/api/tokens").json()["tokens"]}
    assert listed[agent.json()["id"]]["queues"] == ["longshoreman"]
