"""Shared fixtures: a real Temporal dev server, and helpers for unique ids per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from contracts.temporal import data_converter
from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.agent import AgentProcess
from tests.support.control_plane import ControlPlane
from tests.support.encryption import session_keyring
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """One real Temporal dev server (SQLite file, headless, our search attributes) for the whole session."""
    root = tmp_path_factory.mktemp("temporal")
    server = TemporalDevServer.headless_in(root)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: TemporalDevServer) -> AsyncIterator[Client]:
    """A client of the session's dev server using the project's data converter with the session's keys."""
    client = await Client.connect(temporal_server.address, data_converter=data_converter(session_keyring()))
    yield client


@pytest.fixture
def unique() -> str:
    """A short id unique to this test: use it in task queues, names and workflow ids."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh directory for an agent's or a control plane's state."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def control_plane(
    temporal_server: TemporalDevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A real control-plane subprocess on a free port, fresh SQLite file, connected to the session's Temporal."""
    plane = ControlPlane.start(temporal_server.address, tmp_path_factory.mktemp("controlplane"))
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def agent_token(control_plane: ControlPlane) -> str:
    """An agent token of the session's control plane."""
    return control_plane.create_agent_token("e2e-agent")


@pytest.fixture
def agent(
    temporal_server: TemporalDevServer, control_plane: ControlPlane, agent_token: str, unique: str, tmp_path: Path
) -> Iterator[AgentProcess]:
    """A real agent subprocess serving a task queue of its own; stopped and its processes killed afterwards."""
    process = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=control_plane.url,
        agent_token=agent_token,
        task_queue=f"queue-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
    ).start()
    yield process
    process.stop()
    process.kill_leftovers()


@pytest.fixture
def stack(control_plane: ControlPlane, agent: AgentProcess, unique: str) -> Iterator[Stack]:
    """Control plane + agent, with helpers to add locations and launch runs on this test's queue."""
    with control_plane.client() as client:
        stack = Stack(client=client, agent=agent, queue=agent.task_queue, prefix=unique[:6])
        yield stack
        stack.remove_all()


@pytest.fixture
def kube() -> Iterator[object]:
    """A Kubernetes API emulator (kmock) serving real HTTP on a free port, fresh per test (tests/support/kube.py)."""
    from tests.support.kube import kube_server

    yield from kube_server()


# ---- docker launcher: a real engine (scripts/docker/, `make docker-up`) ------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[object]:
    """The local Docker engine with the test images; CI=true: a missing engine fails, elsewhere tests skip."""
    import os

    from tests.support.docker_stack import HOW_TO_START, engine, engine_problem

    problem = engine_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI=true needs the docker tests to run: {HOW_TO_START}", pytrace=False)
        pytest.skip(f"{problem}: {HOW_TO_START}")
    client = engine()
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_control_plane(
    temporal_server: TemporalDevServer, docker_engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A control plane that containers can reach: it listens on every interface (the agent still uses loopback),
    and run containers reach it through the bridge gateway as host.docker.internal."""
    plane = ControlPlane.start(
        temporal_server.address,
        tmp_path_factory.mktemp("docker-controlplane"),
        extra_env={"LONGSHOREMAN_HOST": "0.0.0.0"},
    )
    yield plane
    plane.stop()


@pytest.fixture
def docker_agent(
    temporal_server: TemporalDevServer,
    docker_control_plane: ControlPlane,
    docker_engine: object,
    unique: str,
    tmp_path: Path,
) -> Iterator[AgentProcess]:
    """An agent with the process and docker launchers, its own agent name (so its own containers), a quick cleanup."""
    from urllib.parse import urlsplit

    from tests.support.docker_stack import remove_agent_objects

    name = f"lstest-{unique}"
    port = urlsplit(docker_control_plane.url).port
    process = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=docker_control_plane.url,
        agent_token=docker_control_plane.create_agent_token(f"docker-{unique}"),
        task_queue=f"queue-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
        extra_env={
            "LONGSHOREMAN_LAUNCHERS": '["process","docker"]',
            "LONGSHOREMAN_DOCKER__AGENT_NAME": name,
            "LONGSHOREMAN_DOCKER__CONTROL_PLANE_URL": f"http://host.docker.internal:{port}",
            "LONGSHOREMAN_DOCKER__CLEANUP_INTERVAL_S": "1",
            "LONGSHOREMAN_DOCKER__ORPHAN_GRACE_S": "2",
        },
    ).start()
    yield process
    process.stop()
    remove_agent_objects(docker_engine, name)  # type: ignore[arg-type]


@pytest.fixture
def docker_stack(
    docker_control_plane: ControlPlane, docker_agent: AgentProcess, docker_engine: object, unique: str
) -> Iterator[object]:
    """Control plane + agent whose specs use the docker launcher (tests/support/docker_stack.py)."""
    from tests.support.docker_stack import DockerStack

    with docker_control_plane.client() as client:
        stack = DockerStack(
            client=client,
            agent=docker_agent,
            queue=docker_agent.task_queue,
            prefix=unique[:6],
            engine=docker_engine,  # type: ignore[arg-type]
            agent_name=f"lstest-{unique}",
        )
        yield stack
        stack.remove_all()
