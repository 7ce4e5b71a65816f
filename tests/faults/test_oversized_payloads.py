"""Oversized payloads: refused with 413 (bodies) or 422 (documented field limits) before anything is stored or sent
to Temporal; a job's megabytes of output all arrive; huge definitions stop a location with a message, not a wedge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from contracts.locations import MAX_DEFINITIONS_BYTES
from tests.support.control_plane import ControlPlane
from tests.support.faults.code import huge_definitions_source, write_module
from tests.support.faults.env import FaultEnv
from tests.support.faults.pretend_agent import loaded_location, run_with_token

LOUD = """
    from longshoreman import Definitions, job

    @job
    def loud():
        # 120 lines of 50 000 characters: 6 MB of output, far more than one request may carry.
        for i in range(120):
            print(f"{i:03d} " + "x" * 50_000)

    defs = Definitions(jobs=[loud])
"""


@pytest.fixture(scope="module")
def strict_agent_token(strict_plane: ControlPlane) -> str:
    """An agent token of the strict control plane."""
    return strict_plane.create_agent_token("oversized-test")


def chunked(data: bytes, size: int = 65536) -> Iterator[bytes]:
    """A body without Content-Length (sent chunked): the limit must hold while it streams too."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_bodies_over_the_limit_are_413_and_nothing_is_stored(
    strict_plane: ControlPlane, strict_agent_token: str, unique: str
) -> None:
    location = loaded_location(strict_plane, strict_agent_token, f"big-{unique}")
    run_id, token = run_with_token(strict_plane, strict_agent_token, location)
    five_mb_config = b'{"location": "%s", "job": "noop", "config": {"blob": "%s"}}' % (
        location.encode(),
        b"x" * (5 * 1024 * 1024),
    )
    with strict_plane.client() as admin, strict_plane.client(token) as worker:
        runs_before = admin.get("/api/runs", params={"location": location}).json()["runs"]
        for body in (five_mb_config, chunked(five_mb_config)):
            response = admin.post("/api/runs", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 413, response.text
            assert "over the limit of 4194304 bytes" in response.json()["detail"]
        assert admin.get("/api/runs", params={"location": location}).json()["runs"] == runs_before
        now = datetime.now(UTC).isoformat()
        events = [{"seq": i, "time": now, "type": "NOTE", "message": "m" * 60_000} for i in range(1, 101)]
        assert worker.post(f"/api/runs/{run_id}/events", json={"events": events}).status_code == 413
        assert admin.get(f"/api/runs/{run_id}/events").json()["events"] == []
        assert admin.get("/api/health").status_code == 200


def test_fields_over_their_documented_limits_are_422_with_the_sizes(
    strict_plane: ControlPlane, strict_agent_token: str, unique: str
) -> None:
    location = loaded_location(strict_plane, strict_agent_token, f"fld-{unique}")
    with strict_plane.client() as admin:
        config = admin.post("/api/runs", json={"location": location, "job": "noop", "config": {"x": "y" * 100_000}})
        assert config.status_code == 422
        assert "config is 100008 bytes as JSON; the limit is 65536 bytes" in config.json()["detail"]
        tags = admin.post("/api/runs", json={"location": location, "job": "noop", "tags": {"t": "v" * 10_000}})
        assert tags.status_code == 422 and "the limit is 8192 bytes" in tags.json()["detail"]
        spec = {"name": f"env-{unique}", "module": "m", "env": {"BIG": "v" * 40_000}}
        env = admin.post("/api/locations", json=spec)
        assert (
            env.status_code == 422
            and "env and secret_env are 40005 bytes; the limit is 32768 bytes" in env.json()["detail"]
        )
        assert admin.get(f"/api/locations/env-{unique}").status_code == 404
        assert admin.get("/api/runs", params={"location": location}).json()["runs"] == []


def test_a_job_printing_megabytes_of_long_lines_delivers_every_line(fault_env: FaultEnv) -> None:
    code = write_module(fault_env.root / "code", "loud", LOUD)
    name = fault_env.stack.add_location(fault_env.spec("loud", module="loud", working_dir=str(code)))["name"]
    run_id = fault_env.stack.launch("loud", location="loud")

    run = fault_env.stack.wait_run(run_id, timeout_s=60)

    assert run["status"] == "SUCCESS", run
    lines = fault_env.client.get(f"/api/runs/{run_id}/logs").json()["lines"]
    assert [line["line"][:3] for line in lines] == [f"{i:03d}" for i in range(120)]
    assert all(len(line["line"]) == 50_004 for line in lines)
    assert not [e for e in fault_env.stack.events(run_id) if e["type"] in ("LOGS_DROPPED", "EVENTS_DROPPED")]
    assert fault_env.stack.location(name)["status"] == "LOADED"


def test_huge_definitions_stop_the_location_with_a_message_and_a_redeploy_recovers(fault_env: FaultEnv) -> None:
    code = write_module(fault_env.root / "code", "huge", huge_definitions_source(3 * 1024 * 1024))
    spec = fault_env.spec("huge", module="huge", working_dir=str(code))
    fault_env.stack.add_location(spec, wait_loaded=False)

    view = fault_env.stack.wait_location(spec["name"], {"ERROR"}, timeout_s=60)

    assert f"more than {MAX_DEFINITIONS_BYTES} bytes of definitions" in view["message"], view["message"]
    assert "not restarting" in view["message"], view["message"]
    assert all(agent.process and agent.process.poll() is None for agent in fault_env.agents), "the agent must live"
    # Not wedged: the workflow still takes a redeploy, to a location of a sensible size.
    fixed = fault_env.spec("huge")
    response = fault_env.client.post(f"/api/locations/{spec['name']}/redeploy", json={"spec": fixed})
    assert response.status_code == 202, response.text
    assert fault_env.stack.wait_location(spec["name"], {"LOADED"}, generation=2)["definitions"]["jobs"]
