"""Shared fixtures: a real Temporal dev server, and helpers for unique ids per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from longshoreman.dev.temporal_server import TemporalDevServer
from runtime.converter import data_converter
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
        # Orphans (a workflow terminated from outside) are stopped within a few seconds.
        extra_env={"LONGSHOREMAN_ORPHAN_SWEEP_INTERVAL_S": "1", "LONGSHOREMAN_ORPHAN_GRACE_S": "2"},
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


def require(problem: str | None, what: str, how: str) -> None:
    """A service the tests need is missing (`problem`): with CI=true that fails them, elsewhere they skip, saying
    `how` to get it."""
    import os

    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}; CI=true needs {what} to run: {how}", pytrace=False)
    pytest.skip(f"{problem}: {how}")


@pytest.fixture(scope="session")
def moto() -> Iterator[object]:
    """moto in server mode (real AWS wire protocols over HTTP) on a free loopback port (tests/support/aws.py)."""
    from tests.support.aws import moto_server

    yield from moto_server()


@pytest.fixture(scope="session")
def azurite() -> Iterator[object]:
    """Azurite (Azure Blob Storage emulator) on a free loopback port; CI=true: missing is a failure, else a skip."""
    from tests.support.azure import AZURITE, HOW_TO_GET, azurite_server

    if not AZURITE.exists():
        require("Azurite is not installed", "the Azure Blob tests", HOW_TO_GET)
    yield from azurite_server()


# ---- ecs launcher: moto in server mode (tests/support/aws.py) --------------------------------------------


@pytest.fixture
def ecs(moto: object) -> Iterator[object]:
    """A fresh moto account with a cluster and an awsvpc network; the test plays ECS's scheduler and agent."""
    from tests.support.aws import EcsHand, MotoServer

    assert isinstance(moto, MotoServer)
    moto.reset()
    yield EcsHand(moto)
    moto.reset()


@pytest.fixture
async def make_ecs_launcher(moto: object, ecs: object) -> AsyncIterator[object]:
    """Build ecs launchers on the emulator (each one is a fresh agent); all are closed afterwards."""
    from activities.launchers.ecs.launcher import EcsLauncher
    from activities.launchers.ecs.settings import EcsLauncherSettings
    from tests.support.aws import REGION, EcsHand, MotoServer

    assert isinstance(moto, MotoServer) and isinstance(ecs, EcsHand)
    made: list[EcsLauncher] = []

    def make(**overrides: object) -> EcsLauncher:
        values: dict[str, object] = {
            "region": REGION,
            "endpoint_url": moto.url,
            "cluster": ecs.cluster,
            "agent_name": "agent-a",
            "control_plane_url": "http://control-plane.longshoreman:8000",
            "subnets": [ecs.network.subnet],
            "security_groups": [ecs.network.security_group],
            "execution_role_arn": "arn:aws:iam::123456789012:role/ecs-execution",
            "poll_interval_s": 0.1,
            "missing_grace_s": 0.5,
            "stop_timeout_s": 2,
        }
        launcher = EcsLauncher(EcsLauncherSettings.model_validate(values | overrides))
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        await launcher.aclose()


# ---- docker launcher: a real engine (scripts/docker/, `make docker-up`) ------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[object]:
    """The local Docker engine with the test images; CI=true: a missing engine fails, elsewhere tests skip."""
    from tests.support.docker_stack import HOW_TO_START, engine, engine_problem

    require(engine_problem(), "the docker tests", HOW_TO_START)
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


# ---- PostgreSQL: a throw-away cluster (tests/support/postgres.py, scripts/postgres/ensure-installed.sh) ---------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """A throw-away PostgreSQL cluster for the session; CI=true: a missing server fails, elsewhere tests skip."""
    from tests.support.postgres import HOW_TO_INSTALL, PostgresCluster, server_problem

    require(server_problem(), "the PostgreSQL tests", HOW_TO_INSTALL)
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()
