"""Helpers for the control-plane tests: API clients per token kind and ready-made locations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.control_plane import ControlPlane

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


@pytest.fixture
def loaded_location(api: httpx.Client, agent_api: httpx.Client, unique: str, queue: str) -> str:
    """A location whose (pretend) agent reported LOADED with the JOBS definitions; returns its name."""
    name = f"loc-{unique}"
    assert api.post("/api/locations", json=location_spec(name, queue)).status_code == 201
    report = {"name": name, "status": "LOADED", "generation": 1, "seq": 1, "definitions": {"jobs": JOBS}}
    assert agent_api.put(f"/api/agent/locations/{name}/report", json=report).json() == {"applied": True}
    return name


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
