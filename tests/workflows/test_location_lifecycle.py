"""CodeLocationWorkflow end to end: start, supervise, restart, blue/green redeploy, remove (real processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.agent import alive, wait_for
from tests.support.stack import Stack


def server_url(stack: Stack, server: str) -> str:
    import json

    launch = json.loads((stack.agent.state_dir / "servers" / server / "launch.json").read_text())
    return f"http://127.0.0.1:{launch['port']}"


def test_added_location_gets_a_healthy_server_and_its_jobs_are_visible(stack: Stack) -> None:
    view = stack.add_location(stack.spec())
    assert view["generation"] == 1
    assert {job["name"] for job in view["definitions"]["jobs"]} >= {"greet", "fail", "sleepy", "count"}
    assert httpx.get(server_url(stack, view["server"]) + "/health").status_code == 200


def test_killed_code_server_is_reported_unhealthy_then_restarted(stack: Stack) -> None:
    name = stack.spec()["name"]
    first = stack.add_location(stack.spec())
    old_pid = stack.server_pid(first["server"])
    os.kill(old_pid, signal.SIGKILL)
    view = wait_for(
        lambda: (v := stack.location(name))["status"] == "LOADED" and v["server"] != first["server"] and v,
        30,
        "a new server instance LOADED",
    )
    history = [(e["status"], e["message"]) for e in stack.client.get(f"/api/locations/{name}/events").json()["events"]]
    statuses = [status for status, _ in history]
    assert statuses == ["STARTING", "LOADED", "UNHEALTHY", "STARTING", "LOADED"], history
    assert "killed by signal SIGKILL" in history[2][1], history[2]
    new_pid = stack.server_pid(view["server"])
    assert new_pid != old_pid and alive(new_pid)


def test_redeploy_is_blue_green(stack: Stack) -> None:
    name = stack.spec()["name"]
    first = stack.add_location(stack.spec())
    old_pid = stack.server_pid(first["server"])
    problems: list[str] = []
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=2) as http:
            while not stop.is_set():
                view = stack.location(name)
                samples.append(view)
                if view["status"] != "LOADED":
                    problems.append(f"status {view['status']}")
                else:
                    try:
                        if http.get(server_url(stack, view["server"]) + "/health").status_code != 200:
                            problems.append(f"{view['server']} unhealthy")
                    except httpx.HTTPError as err:
                        problems.append(f"{view['server']}: {err!r}")
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        response = stack.client.post(
            f"/api/locations/{name}/redeploy", json={"spec": stack.spec(env={"HELLO_GREETING": "ahoy"})}
        )
        assert response.status_code == 202, response.text
        view = stack.wait_location(name, {"LOADED"}, generation=2)
        wait_for(lambda: not alive(old_pid), 15, "the old generation to stop")
    finally:
        stop.set()
        prober.join()
    assert problems == [], problems[:5]
    assert {sample["generation"] for sample in samples} == {1, 2}, "the probe must have watched the switch"
    assert view["spec"]["env"] == {"HELLO_GREETING": "ahoy"}
    assert alive(stack.server_pid(view["server"]))


async def test_remove_stops_the_server_and_completes_the_workflow(stack: Stack, temporal_client: Client) -> None:
    name = stack.spec()["name"]
    view = stack.add_location(stack.spec())
    pid = stack.server_pid(view["server"])
    response = stack.client.delete(f"/api/locations/{name}")
    assert response.status_code == 202, response.text
    stack.wait_location(name, {"STOPPED"})
    assert not alive(pid)
    handle = temporal_client.get_workflow_handle(f"location:{name}")
    await asyncio.wait_for(handle.result(), 15)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


def test_a_module_that_cannot_load_is_reported_as_error_with_growing_backoff(stack: Stack) -> None:
    name = stack.spec("broken")["name"]
    stack.add_location(stack.spec("broken", module="examples.hello.no_such_module"), wait_loaded=False)
    # First failure: restart at once; then 1 s, 2 s, ... (the crash-loop backoff).
    view = stack.wait_location(name, {"ERROR"}, timeout_s=30)
    wait_for(lambda: "attempt 3 failed, retrying in 2 s" in stack.location(name)["message"], 30, "the third failure")
    view = stack.location(name)
    assert view["status"] == "ERROR"
    assert "No module named 'examples.hello.no_such_module'" in view["message"], view["message"]


async def test_continue_as_new_keeps_the_server_running(stack: Stack, temporal_client: Client) -> None:
    from contracts.agent import LocationState, RedeployRequest, RedeployResult
    from contracts.locations import LocationSpec

    spec = LocationSpec.model_validate(stack.spec("can", supervision={"max_history_events": 100}))
    state = LocationState(spec=spec)
    handle = await temporal_client.start_workflow(
        "CodeLocationWorkflow", state, id=f"location:{spec.name}", task_queue=stack.queue
    )
    first_run = handle.result_run_id
    # Each redeploy adds ~20 history events; the sixth pushes the history past the limit.
    for _ in range(6):
        await handle.execute_update("redeploy", RedeployRequest(spec=spec), result_type=RedeployResult)
    latest = temporal_client.get_workflow_handle(f"location:{spec.name}", result_type=LocationState)

    async def continued() -> LocationState | None:
        description = await latest.describe()
        if description.run_id == first_run:
            return None
        return await latest.query("status", result_type=LocationState)

    import asyncio

    for _ in range(100):
        after = await continued()
        if after is not None:
            break
        await asyncio.sleep(0.1)
    assert after is not None, "the workflow did not continue as new"
    assert after.server is not None and after.generation == 7
    pid = stack.server_pid(after.server.name)
    await asyncio.sleep(1.5)
    now = await latest.query("status", result_type=LocationState)
    assert now.server == after.server and alive(pid), "continue-as-new must not restart the server"
    await latest.signal("stop")
    assert (await latest.result()).status == "STOPPED"
    assert not alive(pid)


def test_a_launch_that_cannot_work_halts_until_a_redeploy_fixes_it(stack: Stack) -> None:
    name = stack.spec("halt")["name"]
    stack.add_location(stack.spec("halt", working_dir="/nonexistent/code"), wait_loaded=False)
    view = stack.wait_location(name, {"ERROR"})
    assert "/nonexistent/code" in view["message"] and "not restarting" in view["message"], view["message"]
    response = stack.client.post(f"/api/locations/{name}/redeploy", json={"spec": stack.spec("halt")})
    assert response.status_code == 202, response.text
    assert stack.wait_location(name, {"LOADED"}, generation=2)["definitions"]["jobs"]


def test_a_removed_location_can_be_added_again(stack: Stack) -> None:
    spec = stack.spec("again")
    stack.add_location(spec)
    assert stack.client.delete(f"/api/locations/{spec['name']}").status_code == 202
    stack.wait_location(spec["name"], {"STOPPED"})
    response = stack.client.post("/api/locations", json=spec)
    assert response.status_code == 201, response.text
    view = stack.wait_location(spec["name"], {"LOADED"})
    assert alive(stack.server_pid(view["server"]))


def test_location_events_command_prints_the_history(stack: Stack, control_plane) -> None:  # type: ignore[no-untyped-def]
    from tests.longshoreman.cli.helpers import Cli, one_error_line

    spec = stack.spec("hist")
    stack.add_location(spec)
    cli = Cli(control_plane.url, control_plane.admin_token)
    result = cli("location", "events", spec["name"])
    assert result.exit_code == 0, result.output
    assert "STARTING" in result.stdout and "LOADED" in result.stdout and f"{spec['name']}-g1-i1" in result.stdout
    assert "does not exist" in one_error_line(cli("location", "events", "no-such-location"))
