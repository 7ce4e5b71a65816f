"""The control-plane tests' database (every test that uses it runs on SQLite and on PostgreSQL), API clients per
token kind and ready-made locations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.control_plane import ControlPlane
from tests.support.postgres import PostgresCluster

GREET_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "times": {"type": "integer", "minimum": 1}},
    "required": ["name"],
    "additionalProperties": False,
}
JOBS = [
    {"name": "greet", "description": "Say hello", "config_schema": GREET_SCHEMA},
    {"name": "noop", "description": "", "config_schema": {}},
]


def location_spec(name: str, queue: str, **extra: Any) -> dict[str, Any]:
    """A valid LocationSpec body."""
    return {"name": name, "module": "examples.hello.definitions", "agent_queue": queue, **extra}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    """The kind of database of this pass over the control-plane tests (the PostgreSQL pass skips without one)."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_cluster")
    kind: str = request.param
    return kind


@pytest.fixture
def fresh_database_url(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty database of this pass's kind, for a test's own control plane."""
    if database == "sqlite":
        return f"sqlite:///{tmp_path / 'controlplane.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


@pytest.fixture(scope="session")
def control_plane(
    database: str,
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[ControlPlane]:
    """The control plane of this pass: a real subprocess on a fresh database of the pass's kind."""
    plane = start_pass_control_plane("controlplane", database, temporal_server, tmp_path_factory, request)
    yield plane
    plane.stop()


def start_pass_control_plane(
    name: str,
    database: str,
    temporal_server: TemporalDevServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    extra_env: dict[str, str] | None = None,
) -> ControlPlane:
    """A control-plane subprocess on a new database `name` of this pass's kind (SQLite or PostgreSQL)."""
    root = tmp_path_factory.mktemp(f"{name}-{database}")
    url = None
    if database == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(name)
    return ControlPlane.start(temporal_server.address, root, database_url=url, extra_env=extra_env)


@pytest.fixture(scope="session")
def agent_token(control_plane: ControlPlane) -> str:
    """One agent token for the control-plane tests."""
    return control_plane.create_agent_token("controlplane-tests")


@pytest.fixture
def api(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    """Admin client."""
    with control_plane.client() as client:
        yield client


@pytest.fixture
def agent_api(control_plane: ControlPlane, agent_token: str) -> Iterator[httpx.Client]:
    """Agent client (PUT /api/agent/...)."""
    with control_plane.client(agent_token) as client:
        yield client


@pytest.fixture
def anonymous(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    """Client without any token."""
    with httpx.Client(base_url=control_plane.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def queue(unique: str) -> str:
    """This test's agent task queue (no agent polls it: workflows just sit scheduled)."""
    return f"cp-test-{unique}"


def add_loaded(
    api: httpx.Client, agent_api: httpx.Client, name: str, queue: str, jobs: list[dict[str, Any]] = JOBS
) -> str:
    """Add a location and report it LOADED with `jobs` as its (pretend) agent; returns its name."""
    assert api.post("/api/locations", json=location_spec(name, queue)).status_code == 201
    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": jobs}}
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    return name


@pytest.fixture
def loaded_location(api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str) -> str:
    """A location whose (pretend) agent reported LOADED with the JOBS definitions; returns its name."""
    return add_loaded(api, agent_api, f"loc-{unique}", queue)


@pytest.fixture
def launch(api: httpx.Client, loaded_location: str) -> Callable[..., dict[str, Any]]:
    """Launch a run of `loaded_location` (201 expected); returns the RunView."""

    def _launch(job: str = "noop", **body: Any) -> dict[str, Any]:
        response = api.post("/api/runs", json={"location": loaded_location, "job": job, **body})
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()["run"]
        return run

    return _launch


@pytest.fixture
async def async_api(control_plane: ControlPlane) -> AsyncIterator[httpx.AsyncClient]:
    """Admin client for tests whose event loop also runs a Temporal worker (a blocking call would starve it)."""
    headers = {"Authorization": f"Bearer {control_plane.admin_token}"}
    async with httpx.AsyncClient(base_url=control_plane.url, headers=headers, timeout=30.0) as client:
        yield client


@pytest.fixture
async def async_agent_api(control_plane: ControlPlane, agent_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Agent client for async tests."""
    headers = {"Authorization": f"Bearer {agent_token}"}
    async with httpx.AsyncClient(base_url=control_plane.url, headers=headers, timeout=30.0) as client:
        yield client
