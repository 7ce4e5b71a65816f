"""The docker launcher on its own (no Temporal): idempotent launches, refused late launches, pull policy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from activities.launchers.base import LaunchError, Phase
from activities.launchers.docker.launcher import DockerLauncher
from activities.launchers.docker.settings import DockerLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.locations import LocationSpec
from tests.support.docker_stack import EXAMPLE_IMAGE, remove_agent_objects


@pytest.fixture
def launcher(docker_engine: docker.DockerClient) -> Iterator[DockerLauncher]:
    """A launcher with an agent name of its own; everything it created is removed afterwards."""
    agent = f"lstest-l{uuid.uuid4().hex[:8]}"
    # No control plane: these runs' events go nowhere (the executor gives up after a second).
    instance = DockerLauncher(DockerLauncherSettings(agent_name=agent).resolved(agent, "http://127.0.0.1:9"))
    yield instance
    instance.close()
    remove_agent_objects(docker_engine, agent)


def spec(**overrides: object) -> LocationSpec:
    values: dict[str, object] = {
        "name": "solo",
        "launcher": "docker",
        "module": "examples.hello.definitions",
        "image": EXAMPLE_IMAGE,
        "image_pull_policy": "never",
        "env": {"LONGSHOREMAN_RUN_FLUSH_TIMEOUT_S": "1"},
    }
    values.update(overrides)
    return LocationSpec.model_validate(values)


class Tokens:
    """A token source that counts how often a token was asked for (only a real launch asks)."""

    def __init__(self) -> None:
        self.issued = 0

    async def __call__(self) -> str:
        self.issued += 1
        return f"token-{self.issued}"


def test_a_second_launch_of_an_attempt_adopts_its_container_even_after_it_ended(launcher: DockerLauncher) -> None:
    request = LaunchRunInput(run_id="adopt1", attempt=1, job="greet", location=spec())
    tokens = Tokens()

    async def scenario() -> tuple[str, str, Phase]:
        first = await launcher.launch_worker(request, tokens)
        ended = await launcher.wait_worker(first, frozenset({Phase.EXITED, Phase.LOST}), 30)
        again = await launcher.launch_worker(request, tokens)
        return str(first.ref["container"]), str(again.ref["container"]), ended.phase

    first, again, phase = asyncio.run(scenario())
    assert phase is Phase.EXITED
    assert first == again, "the finished attempt must not run a second time"
    assert tokens.issued == 1


def test_an_attempt_stopped_before_its_launch_is_never_started(launcher: DockerLauncher) -> None:
    request = LaunchRunInput(run_id="late1", attempt=1, job="greet", location=spec())

    async def scenario() -> str:
        result = await launcher.stop_worker("late1", 1, 1.0)
        assert result.stopped is False, result
        with pytest.raises(LaunchError) as caught:
            await launcher.launch_worker(request, Tokens())
        assert caught.value.final
        return str(caught.value)

    assert "stopped before it started" in asyncio.run(scenario())
    assert docker.from_env().containers.list(all=True, filters={"name": f"{launcher.agent}-run-late1-a1"}) == []


def test_pull_policy_never_refuses_an_absent_image_as_final(launcher: DockerLauncher) -> None:
    absent = spec(image="longshoreman-absent/solo:v0")

    async def scenario() -> LaunchError:
        with pytest.raises(LaunchError) as caught:
            await launcher.launch_server(absent, 1, 1)
        return caught.value

    error = asyncio.run(scenario())
    assert error.final
    assert "image 'longshoreman-absent/solo:v0' is not present" in str(error)
    assert "pull policy is 'never'" in str(error)


def test_a_command_the_image_lacks_ends_the_server_with_the_reason_in_its_log(launcher: DockerLauncher) -> None:
    broken = spec(command=["no-such-program", "--port", "{port}"])

    async def scenario() -> tuple[int | None, str]:
        handle = await launcher.launch_server(broken, 1, 1)
        view = await launcher.wait_server_end(handle, 20)
        assert view.phase is Phase.EXITED, view
        return view.exit_code, await launcher.log_tail(handle.name)

    exit_code, log = asyncio.run(scenario())
    assert exit_code == 127
    assert "no-such-program" in log, log


def test_an_engine_that_does_not_answer_is_a_retryable_launch_error(tmp_path: Path) -> None:
    settings = DockerLauncherSettings(docker_host=f"unix://{tmp_path}/no-engine.sock", agent_name="lstest-down")
    instance = DockerLauncher(settings.resolved("lstest-down", "http://127.0.0.1:9"))

    async def scenario() -> LaunchError:
        with pytest.raises(LaunchError) as caught:
            await instance.launch_server(spec(), 1, 1)
        return caught.value

    try:
        error = asyncio.run(scenario())
    finally:
        instance.close()
    assert not error.final, "Temporal retries it: the engine may come back"
    assert "docker engine unreachable" in str(error)


def test_a_stop_says_how_the_container_ended(launcher: DockerLauncher) -> None:
    # The workflow tells a job that finished as its cancel arrived from one the cancel ended by this.
    request = LaunchRunInput(run_id="stop1", attempt=1, job="sleepy", config={"seconds": 60}, location=spec())

    async def scenario() -> tuple[int | None, int | None, str]:
        handle = await launcher.launch_worker(request, Tokens())
        running = await launcher.wait_worker(handle, frozenset({Phase.RUNNING, Phase.EXITED, Phase.LOST}), 30)
        assert running.phase is Phase.RUNNING, running
        result = await launcher.stop_worker("stop1", 1, 5.0)
        return result.exit_code, result.signal, result.detail

    exit_code, signal, detail = asyncio.run(scenario())
    # The run executor answers SIGTERM by canceling the job and exiting 128 + 15: read as the signal.
    assert (exit_code, signal, detail) == (None, 15, "stopped by SIGTERM")
