"""Shared fixtures: a real Temporal dev server, and helpers for unique ids per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from contracts.search_attributes import dev_server_flags
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
    server = TemporalDevServer(
        db_file=root / "temporal.db",
        headless=True,
        log_file=root / "temporal.log",
        search_attributes=dev_server_flags(),
    )
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
