"""The agent seen from the control plane: its heartbeat, AVAILABLE / UNAVAILABLE / STOPPED, and what that means
for the runs and locations of its queue."""

from __future__ import annotations

from typing import Any

from tests.longshoreman.cli.helpers import Cli
from tests.support.agent import wait_for
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack


def agents_of(stack: Stack) -> list[dict[str, Any]]:
    """The agents the control plane lists for this test's queue."""
    listed: list[dict[str, Any]] = stack.client.get("/api/agents").json()["agents"]
    return [agent for agent in listed if agent["task_queue"] == stack.queue]


def test_a_killed_agent_goes_unavailable_its_work_says_so_and_a_new_one_clears_it(
    stack: Stack, control_plane: ControlPlane
) -> None:
    run_id, _pid = stack.started_sleepy(60)
    location = stack.spec()["name"]
    process = stack.agent.process
    assert process is not None

    (first,) = wait_for(
        lambda: [a for a in agents_of(stack) if a["running_runs"] == 1 and a["code_servers"] == 1], 15, "a heartbeat"
    )
    assert (first["status"], first["launchers"], first["pid"]) == ("AVAILABLE", ["process"], process.pid)
    assert first["version"] and first["host"]
    table = Cli(control_plane.url, control_plane.admin_token)("agent", "list")
    assert table.exit_code == 0 and "AVAILABLE" in table.stdout and stack.queue in table.stdout

    stack.agent.kill()
    wait_for(lambda: agents_of(stack)[0]["status"] == "UNAVAILABLE", 15, "the agent to be UNAVAILABLE")
    note = f"no live agent on task queue '{stack.queue}'"
    run = wait_for(lambda: (r := stack.run(run_id))["message"] and r, 15, "the run's message")
    assert run["message"] == f"{note}: supervision resumes when one is back"
    assert wait_for(lambda: stack.location(location)["message"].startswith(note), 15, "the location's message")

    stack.agent.start()
    wait_for(lambda: any(a["status"] == "AVAILABLE" for a in agents_of(stack)), 15, "the new agent")
    wait_for(lambda: stack.run(run_id)["message"] == "", 15, "the run's message to clear")
    wait_for(lambda: not stack.location(location)["message"].startswith(note), 15, "the location's note to clear")
    statuses = sorted(a["status"] for a in agents_of(stack))
    assert statuses == ["AVAILABLE", "UNAVAILABLE"], "the killed process stays listed, UNAVAILABLE"

    stack.client.post(f"/api/runs/{run_id}/cancel")
    stack.wait_run(run_id)
    stack.agent.stop()
    wait_for(lambda: "STOPPED" in [a["status"] for a in agents_of(stack)], 15, "a graceful stop to show")


def test_an_agent_token_may_not_heartbeat_for_another_queue(control_plane: ControlPlane, unique: str) -> None:
    token = control_plane.create_agent_token(f"hb-{unique}", queues=[f"mine-{unique}"])
    beat = {
        "instance_id": "a" * 32,
        "name": "intruder",
        "task_queue": f"theirs-{unique}",
        "launchers": ["process"],
        "version": "0",
        "host": "h",
        "pid": 1,
        "started_at": "2026-01-01T00:00:00Z",
    }
    with control_plane.client(token) as agent:
        refused = agent.put("/api/agent/heartbeat", json=beat)
        allowed = agent.put("/api/agent/heartbeat", json=beat | {"task_queue": f"mine-{unique}"})
    assert refused.status_code == 403 and "serves task queue(s)" in refused.json()["detail"]
    assert allowed.status_code == 200
