"""Code locations on the docker launcher, end to end: control plane → Temporal → agent → containers (real engine)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.support.agent import wait_for
from tests.support.docker_stack import EXAMPLE_IMAGE, DockerStack


def server_url(stack: DockerStack, server: str) -> str:
    """Where the agent reaches a code server: its port published on loopback."""
    container = stack.container(server)
    assert container is not None, f"no container for {server}"
    return f"http://127.0.0.1:{container.ports['4000/tcp'][0]['HostPort']}"


def test_location_runs_as_a_labelled_container_with_its_limits_and_serves_definitions(
    docker_stack: DockerStack,
) -> None:
    spec = docker_stack.spec(resources={"cpu": 0.5, "memory": "256Mi"}, docker={"labels": {"team": "data"}})
    view = docker_stack.add_location(spec)
    assert {job["name"] for job in view["definitions"]["jobs"]} >= {"greet", "fail", "sleepy", "count"}
    container = docker_stack.container(view["server"])
    assert container is not None and container.status == "running"
    labels = container.labels
    assert labels["longshoreman.managed-by"] == "longshoreman"
    assert labels["longshoreman.agent"] == docker_stack.agent_name
    assert (labels["longshoreman.location"], labels["longshoreman.generation"]) == (spec["name"], "1")
    assert labels["team"] == "data"
    host_config = container.attrs["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000 and host_config["Memory"] == 256 * 1024**2
    assert httpx.get(server_url(docker_stack, view["server"]) + "/health").status_code == 200


def test_killed_code_server_container_is_reported_unhealthy_then_replaced(docker_stack: DockerStack) -> None:
    name = docker_stack.spec()["name"]
    first = docker_stack.add_location(docker_stack.spec())
    container = docker_stack.container(first["server"])
    assert container is not None
    container.kill()
    view = wait_for(
        lambda: (v := docker_stack.location(name))["status"] == "LOADED" and v["server"] != first["server"] and v,
        45,
        "a new server container LOADED",
    )
    # The first restart is immediate, so a poller may never see UNHEALTHY: the location's history keeps it.
    history = docker_stack.client.get(f"/api/locations/{name}/events").json()["events"]
    unhealthy = [event["message"] for event in history if event["status"] == "UNHEALTHY"]
    assert unhealthy and "killed by signal SIGKILL" in unhealthy[0], history
    replacement = docker_stack.container(view["server"])
    assert replacement is not None and replacement.status == "running"
    assert docker_stack.container(first["server"]) is None, "the dead container is removed"


def test_redeploy_to_a_new_image_tag_is_blue_green(docker_stack: DockerStack) -> None:
    name = docker_stack.spec()["name"]
    first = docker_stack.add_location(docker_stack.spec())
    new_tag = docker_stack.tag_image(f"longshoreman-hello:test-{docker_stack.prefix}", "v2")
    problems: list[str] = []
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=2) as http:
            while not stop.is_set():
                view = docker_stack.location(name)
                samples.append(view)
                if view["status"] != "LOADED":
                    problems.append(f"status {view['status']}")
                else:
                    try:
                        if http.get(server_url(docker_stack, view["server"]) + "/health").status_code != 200:
                            problems.append(f"{view['server']} unhealthy")
                    except (httpx.HTTPError, AssertionError) as err:
                        problems.append(f"{view['server']}: {err!r}")
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        response = docker_stack.client.post(
            f"/api/locations/{name}/redeploy", json={"spec": docker_stack.spec(image=new_tag)}
        )
        assert response.status_code == 202, response.text
        view = docker_stack.wait_location(name, {"LOADED"}, generation=2)
        wait_for(lambda: docker_stack.container(first["server"]) is None, 20, "the old generation's container to go")
    finally:
        stop.set()
        prober.join()
    assert problems == [], problems[:5]
    assert {sample["generation"] for sample in samples} == {1, 2}, "the probe must have watched the switch"
    container = docker_stack.container(view["server"])
    assert container is not None and container.attrs["Config"]["Image"] == new_tag
    assert container.labels["longshoreman.generation"] == "2"


def test_removing_a_location_removes_its_container(docker_stack: DockerStack) -> None:
    name = docker_stack.spec()["name"]
    view = docker_stack.add_location(docker_stack.spec())
    assert docker_stack.container(view["server"]) is not None
    assert docker_stack.client.delete(f"/api/locations/{name}").status_code == 202
    docker_stack.wait_location(name, {"STOPPED"})
    assert docker_stack.container(view["server"]) is None
    assert docker_stack.containers(location=name) == []


def test_missing_image_halts_the_location_with_a_clear_reason_until_a_redeploy(docker_stack: DockerStack) -> None:
    name = docker_stack.spec("noimg")["name"]
    missing = f"longshoreman-missing/{docker_stack.prefix}:nope"
    docker_stack.add_location(docker_stack.spec("noimg", image=missing), wait_loaded=False)
    view = docker_stack.wait_location(name, {"ERROR"})
    assert f"image '{missing}' is not present" in view["message"], view["message"]
    assert "not restarting" in view["message"], view["message"]
    response = docker_stack.client.post(f"/api/locations/{name}/redeploy", json={"spec": docker_stack.spec("noimg")})
    assert response.status_code == 202, response.text
    assert docker_stack.wait_location(name, {"LOADED"}, generation=2)["definitions"]["jobs"]


def test_failed_pull_halts_the_location_with_the_registry_error(docker_stack: DockerStack) -> None:
    from longshoreman.dev.temporal_server import free_port

    name = docker_stack.spec("pull")["name"]
    # A registry on loopback that refuses connections: the engine's pull fails at once, nothing leaves the host.
    image = f"127.0.0.1:{free_port()}/longshoreman/nope:v1"
    docker_stack.add_location(docker_stack.spec("pull", image=image, image_pull_policy="always"), wait_loaded=False)
    view = docker_stack.wait_location(name, {"ERROR"})
    assert f"image pull failed for '{image}'" in view["message"], view["message"]
    assert "not restarting" in view["message"], view["message"]
    assert EXAMPLE_IMAGE not in view["message"]
