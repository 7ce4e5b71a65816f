"""Runs on a control plane without a real agent: the test plays the agent through the agent API."""

from __future__ import annotations

from typing import Any

from tests.support.control_plane import ControlPlane

JOBS = [{"name": "noop", "description": "", "config_schema": {}}]


def loaded_location(plane: ControlPlane, agent_token: str, name: str, jobs: list[dict[str, Any]] = JOBS) -> str:
    """A location whose (pretend) agent reported LOADED with `jobs`; its workflow sits on a queue nobody polls."""
    spec = {"name": name, "module": "examples.hello.definitions", "agent_queue": f"nobody-{name}"}
    with plane.client() as admin, plane.client(agent_token) as agent:
        assert admin.post("/api/locations", json=spec).status_code == 201
        report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": jobs}}
        assert agent.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    return name


def run_with_token(plane: ControlPlane, agent_token: str, location: str) -> tuple[str, str]:
    """Launch a run of `noop` and get its worker's token as the agent would: (run id, token)."""
    with plane.client() as admin, plane.client(agent_token) as agent:
        response = admin.post("/api/runs", json={"location": location, "job": "noop"})
        assert response.status_code == 201, response.text
        run_id = str(response.json()["run"]["id"])
        token = agent.post(f"/api/agent/runs/{run_id}/token", json={"attempt": 1}).json()["token"]
    return run_id, str(token)


def report_run(plane: ControlPlane, agent_token: str, run_id: str, status: str, seq: int) -> None:
    """Report a run's status as its agent."""
    with plane.client(agent_token) as agent:
        body = {"run_id": run_id, "status": status, "seq": seq}
        assert agent.put(f"/api/agent/runs/{run_id}/report", json=body).json() == {"applied": True}
