"""Plumbing of the docker benchmarks: Temporal + control plane + one agent with the docker launcher.

The code location `bench` runs bench/jobs/scale.py (mounted read-only) in the example image, so nothing is
built or pulled. With `network='bridge'` (the default launcher setting) the control plane listens on every
interface and run containers reach it through the bridge gateway (host.docker.internal); with `'host'` the
containers share the host's network and reach it on loopback.

Needs a Docker engine and the images of `make docker-up`.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.agent import AgentProcess
from tests.support.control_plane import ControlPlane
from tests.support.docker_stack import EXAMPLE_IMAGE, engine, engine_problem, remove_agent_objects

BENCH_DIR = Path(__file__).resolve().parent
LOCATION = "bench"


def say(message: str) -> None:
    """Progress on stderr; figures go to stdout."""
    print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class DockerBench:
    """The running stack: an admin client of the control plane, the agent process, its agent name."""

    client: httpx.Client
    agent: AgentProcess
    agent_name: str


@contextmanager
def docker_bench_stack(network: str = "bridge", agent_env: dict[str, str] | None = None) -> Iterator[DockerBench]:
    """The stack with the `bench` location LOADED; everything (containers included) is removed at the end."""
    problem = engine_problem()
    if problem is not None:
        raise SystemExit(f"{problem}: run `make docker-up` first")
    name = f"lsbench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="longshoreman-bench-") as tmp:
        root = Path(tmp)
        temporal = TemporalDevServer(db_file=root / "temporal.db", headless=True, log_file=root / "temporal.log")
        temporal.start()
        host = "0.0.0.0" if network != "host" else "127.0.0.1"
        plane = ControlPlane.start(temporal.address, root / "plane", extra_env={"LONGSHOREMAN_HOST": host})
        port = urlsplit(plane.url).port
        container_url = f"http://host.docker.internal:{port}" if network != "host" else plane.url
        agent = AgentProcess(
            temporal_address=temporal.address,
            control_plane_url=plane.url,
            agent_token=plane.create_agent_token("bench"),
            task_queue=f"bench-{name}",
            state_dir=root / "agent",
            log_file=root / "agent.log",
            extra_env={
                "LONGSHOREMAN_LAUNCHERS": '["docker"]',
                "LONGSHOREMAN_DOCKER__AGENT_NAME": name,
                "LONGSHOREMAN_DOCKER__NETWORK": network,
                "LONGSHOREMAN_DOCKER__CONTROL_PLANE_URL": container_url,
                **(agent_env or {}),
            },
        ).start()
        client = plane.client()
        try:
            spec = {
                "name": LOCATION,
                "launcher": "docker",
                "module": "scale",
                "image": EXAMPLE_IMAGE,
                "image_pull_policy": "never",
                "env": {"PYTHONPATH": "/bench-jobs:/app"},
                "docker": {"volumes": [f"{BENCH_DIR / 'jobs'}:/bench-jobs:ro"]},
                "agent_queue": agent.task_queue,
            }
            response = client.post("/api/locations", json=spec)
            response.raise_for_status()
            deadline = time.monotonic() + 120
            while client.get(f"/api/locations/{LOCATION}").json()["status"] != "LOADED":
                if time.monotonic() > deadline:
                    raise SystemExit(f"location not LOADED within 120 s; agent log:\n{agent.log_tail()}")
                time.sleep(0.1)
            say(f"stack ready: agent {name}, containers on the '{network}' network")
            yield DockerBench(client=client, agent=agent, agent_name=name)
        finally:
            client.delete(f"/api/locations/{LOCATION}")
            agent.stop()
            plane.stop()
            temporal.stop()
            remove_agent_objects(engine(), name)
