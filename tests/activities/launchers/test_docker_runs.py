"""Runs on the docker launcher, end to end: one container per attempt on a real engine, supervised by Temporal."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.support.agent import wait_for
from tests.support.docker_stack import DockerStack, code_volume


def test_run_succeeds_in_its_own_labelled_container(docker_stack: DockerStack) -> None:
    docker_stack.add_location(docker_stack.spec())
    run_id = docker_stack.launch("greet", {"name": "docks"})
    run = docker_stack.wait_run(run_id)
    assert run["status"] == "SUCCESS", run
    types = [event["type"] for event in docker_stack.events(run_id)]
    assert types[:2] == ["RUN_START", "JOB_START"] and types[-1] == "JOB_SUCCESS", types
    assert "hello, docks" in docker_stack.logs(run_id)
    container = docker_stack.worker(run_id)
    assert container.labels["longshoreman.run-id"] == run_id and container.labels["longshoreman.attempt"] == "1"
    assert container.attrs["State"]["ExitCode"] == 0, "finished containers are kept for the retention period"
    env = container.attrs["Config"]["Env"]
    token = next(item for item in env if item.startswith("LONGSHOREMAN_RUN_TOKEN="))
    assert all(token.split("=", 1)[1] not in value for value in container.labels.values())


def test_failing_job_reports_the_exception_message(docker_stack: DockerStack) -> None:
    docker_stack.add_location(docker_stack.spec())
    run = docker_stack.wait_run(docker_stack.launch("fail"))
    assert run["status"] == "FAILURE"
    assert "ValueError: boom: the hello job failed on purpose" in run["reason"], run["reason"]
    assert "(exit code 1)" in run["reason"], run["reason"]


def test_job_over_its_memory_limit_fails_as_oom_killed(docker_stack: DockerStack, tmp_path: Path) -> None:
    volume, pythonpath = code_volume(
        tmp_path,
        "hog",
        """
        from longshoreman import Definitions, job

        @job
        def eat():
            print("allocating 1 GiB", flush=True)
            block = bytearray(1024 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])

        defs = Definitions(jobs=[eat])
        """,
    )
    spec = docker_stack.spec(
        "hog", module="hog", env={"PYTHONPATH": pythonpath}, docker={"volumes": [volume]}, resources={"memory": "96Mi"}
    )
    docker_stack.add_location(spec)
    run = docker_stack.wait_run(docker_stack.launch("eat", location="hog"))
    assert run["status"] == "FAILURE"
    assert "out of memory (OOMKilled)" in run["reason"], run["reason"]
    assert docker_stack.worker(run["id"]).attrs["State"]["OOMKilled"] is True


def test_cancel_stops_the_container_and_reports_canceled(docker_stack: DockerStack) -> None:
    docker_stack.add_location(docker_stack.spec())
    run_id = docker_stack.launch("sleepy", {"seconds": 60}, cancel_grace_s=5)
    docker_stack.wait_run(run_id, {"STARTED"})
    container = docker_stack.worker(run_id)
    assert container.status == "running"
    response = docker_stack.client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    run = docker_stack.wait_run(run_id)
    assert run["status"] == "CANCELED", run
    container.reload()
    assert container.status == "exited"
    # SIGTERM reached the job (the executor's own exit code), not a SIGKILL after the grace period.
    assert container.attrs["State"]["ExitCode"] == 143
    assert "JOB_CANCELED" in [event["type"] for event in docker_stack.events(run_id)]


def test_start_timeout_fails_the_run_and_stops_its_container(docker_stack: DockerStack, tmp_path: Path) -> None:
    volume, pythonpath = code_volume(
        tmp_path,
        "slowstart",
        """
        import os, time
        from longshoreman import Definitions, job

        if os.environ.get("LONGSHOREMAN_RUN_ID"):
            time.sleep(60)  # the container runs, but the job never gets going

        @job
        def quick():
            print("ran")

        defs = Definitions(jobs=[quick])
        """,
    )
    spec = docker_stack.spec("slow", module="slowstart", env={"PYTHONPATH": pythonpath}, docker={"volumes": [volume]})
    docker_stack.add_location(spec)
    run_id = docker_stack.launch("quick", location="slow", start_timeout_s=3, cancel_grace_s=1)
    run = docker_stack.wait_run(run_id)
    assert run["status"] == "FAILURE"
    assert "start timeout" in run["reason"], run["reason"]
    container = docker_stack.worker(run_id)
    assert container.status == "exited"


def test_killed_agent_mid_run_resumes_supervision_without_relaunch(docker_stack: DockerStack) -> None:
    docker_stack.add_location(docker_stack.spec())
    run_id = docker_stack.launch("sleepy", {"seconds": 6})
    docker_stack.wait_run(run_id, {"STARTED"})
    container_id = docker_stack.worker(run_id).id
    docker_stack.agent.kill()
    assert docker_stack.worker(run_id).status == "running", "the run container must outlive the agent"
    docker_stack.agent.start()
    run = docker_stack.wait_run(run_id, timeout_s=60)
    assert run["status"] == "SUCCESS", run
    assert [c.id for c in docker_stack.containers(run_id=run_id)] == [container_id], "launched exactly once"
    assert len([e for e in docker_stack.events(run_id) if e["type"] == "RUN_START"]) == 1


def test_run_whose_image_is_gone_fails_at_launch_with_a_clear_reason(docker_stack: DockerStack) -> None:
    tag = docker_stack.tag_image(f"longshoreman-hello:gone-{docker_stack.prefix}", "gone")
    docker_stack.add_location(docker_stack.spec("gone", image=tag))
    # The server keeps running from the image's layers; only the tag (what new containers need) is gone.
    docker_stack.docker.images.remove(tag, force=True)
    run = docker_stack.wait_run(docker_stack.launch("greet", location="gone"))
    assert run["status"] == "FAILURE"
    assert run["reason"].startswith("launch failed:"), run["reason"]
    assert f"image '{tag}' is not present" in run["reason"], run["reason"]


def test_finished_run_containers_are_removed_after_the_retention_period(docker_stack: DockerStack) -> None:
    agent = docker_stack.agent
    agent.stop()
    agent.extra_env["LONGSHOREMAN_DOCKER__RETENTION_S"] = "1"
    agent.start()
    docker_stack.add_location(docker_stack.spec())
    run_id = docker_stack.launch("greet")
    assert docker_stack.wait_run(run_id)["status"] == "SUCCESS"
    wait_for(lambda: not docker_stack.containers(run_id=run_id), 20, "the finished container to be removed")
    assert docker_stack.logs(run_id), "the run's logs live on in the control plane"


def test_orphaned_containers_are_removed(docker_stack: DockerStack) -> None:
    ghosts = {
        "server": {"longshoreman.location": f"ghost-{docker_stack.prefix}", "longshoreman.instance": "1"},
        "worker": {"longshoreman.run-id": f"ghost{docker_stack.prefix}", "longshoreman.attempt": "1"},
    }
    for kind, labels in ghosts.items():
        docker_stack.docker.containers.run(
            "longshoreman-base:py3.11",
            ["sleep", "600"],
            detach=True,
            name=f"{docker_stack.agent_name}-ghost-{kind}",
            labels={
                "longshoreman.managed-by": "longshoreman",
                "longshoreman.agent": docker_stack.agent_name,
                "longshoreman.kind": kind,
                "longshoreman.name": f"ghost-{kind}",
                **labels,
            },
        )
    # A live location's container must survive the same sweeps.
    view = docker_stack.add_location(docker_stack.spec())
    wait_for(lambda: not docker_stack.containers(name="ghost-server"), 30, "the orphaned server container to go")
    wait_for(lambda: not docker_stack.containers(name="ghost-worker"), 30, "the orphaned run container to go")
    server = docker_stack.container(view["server"])
    assert server is not None and server.status == "running"


def test_state_calls_read_the_cache_not_the_engine(docker_engine: docker.DockerClient) -> None:
    # Covered end to end by the benchmarks (bench/docker_supervision.py); here: the agent-side guarantee.
    import asyncio

    from activities.launchers.base import Phase
    from activities.launchers.docker.launcher import DockerLauncher
    from activities.launchers.docker.settings import DockerLauncherSettings
    from contracts.agent import LaunchRunInput
    from contracts.locations import LocationSpec
    from tests.support.docker_stack import EXAMPLE_IMAGE, remove_agent_objects

    agent = f"lstest-cache{id(docker_engine) % 100000}"
    launcher = DockerLauncher(DockerLauncherSettings(agent_name=agent).resolved(agent, "http://127.0.0.1:9"))
    spec = LocationSpec(name="cache", launcher="docker", module="examples.hello.definitions", image=EXAMPLE_IMAGE)
    request = LaunchRunInput(run_id="cache1", attempt=1, job="sleepy", config={"seconds": 30}, location=spec)

    async def scenario() -> tuple[int, int]:
        async def token() -> str:
            return "not-a-real-token"

        handle = await launcher.launch_worker(request, token)
        view = await launcher.wait_worker(handle, frozenset({Phase.RUNNING}), 20)
        assert view.phase is Phase.RUNNING, view
        before = launcher.watcher.refreshes
        for _ in range(500):
            assert (await launcher.worker_state(handle)).phase is Phase.RUNNING
        return before, launcher.watcher.refreshes

    try:
        before, after = asyncio.run(scenario())
    finally:
        launcher.close()
        remove_agent_objects(docker_engine, agent)
    assert after == before, "500 state calls must not ask the engine anything"
