"""Docker launcher end-to-end helpers: is an engine there, and a Stack whose locations run as containers.

The images come from scripts/docker/build-images.sh (`make docker-up`); nothing is ever pulled. Every
container the test agent starts carries `longshoreman.agent=<its unique name>`, which is how a test finds
them and how the fixtures remove them afterwards.
"""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from tests.support.agent import wait_for
from tests.support.stack import Stack

EXAMPLE_IMAGE = os.environ.get("LONGSHOREMAN_EXAMPLE_IMAGE", "longshoreman-hello:dev")
PROJECT_IMAGE = os.environ.get("LONGSHOREMAN_IMAGE", "longshoreman:dev")
BASE_IMAGE = os.environ.get("LONGSHOREMAN_BASE_IMAGE", "longshoreman-base:py3.11")
DAGSTER_IMAGE = os.environ.get("LONGSHOREMAN_DAGSTER_IMAGE", "longshoreman-dagster:dev")
HOW_TO_START = (
    "start an engine and build the images with `make docker-up` (as root: it installs docker.io if needed, "
    "starts dockerd, builds the offline base image and the project images)"
)


def engine_problem() -> str | None:
    """Why the docker tests cannot run here, or None."""
    try:
        client = docker.from_env(version="auto", timeout=10)
        client.ping()
    except docker.errors.DockerException as err:
        return f"no Docker engine answers ({err})"
    images = (EXAMPLE_IMAGE, PROJECT_IMAGE, BASE_IMAGE, DAGSTER_IMAGE)
    missing = [image for image in images if not _has_image(client, image)]
    if missing:
        return f"the docker test images are missing: {', '.join(missing)}"
    return None


def engine() -> docker.DockerClient:
    """A client of the local engine."""
    return docker.from_env(version="auto", timeout=60)


def remove_agent_objects(client: docker.DockerClient, agent: str) -> None:
    """Remove every container and stop marker an agent created (test cleanup)."""
    labels = {"label": [f"longshoreman.agent={agent}"]}
    for summary in client.api.containers(all=True, filters=labels):
        try:
            client.api.remove_container(summary["Id"], force=True)
        except docker.errors.NotFound:
            pass
    for volume in (client.api.volumes(filters=labels) or {}).get("Volumes") or []:
        try:
            client.api.remove_volume(volume["Name"], force=True)
        except docker.errors.APIError:
            pass


def _has_image(client: docker.DockerClient, image: str) -> bool:
    try:
        client.api.inspect_image(image)
    except docker.errors.NotFound:
        return False
    return True


@dataclass
class DockerStack(Stack):
    """A Stack whose specs use the docker launcher, with helpers to look at the agent's containers."""

    engine: docker.DockerClient | None = None
    agent_name: str = ""
    images: list[str] = field(default_factory=list)

    def spec(self, name: str = "hello", **overrides: Any) -> dict[str, Any]:
        """A docker-launcher spec of examples/hello (the example image, never pulled) on this test's queue."""
        spec: dict[str, Any] = {
            "name": f"{name}-{self.prefix}",
            "launcher": "docker",
            "module": "examples.hello.definitions",
            "image": EXAMPLE_IMAGE,
            "image_pull_policy": "never",
            "agent_queue": self.queue,
            "startup_timeout_s": 30,
        }
        spec.update(overrides)
        return spec

    @property
    def docker(self) -> docker.DockerClient:
        """The engine client."""
        assert self.engine is not None
        return self.engine

    def container(self, handle_name: str) -> Container | None:
        """The container of a server or worker handle name, or None."""
        try:
            return self.docker.containers.get(f"{self.agent_name}-{handle_name}")
        except docker.errors.NotFound:
            return None

    def worker(self, run_id: str, attempt: int = 1) -> Container:
        """The container of a run attempt, once launched."""
        return wait_for(lambda: self.container(f"run-{run_id}-a{attempt}"), 20, f"the container of run {run_id}")

    def containers(self, **labels: str) -> list[Container]:
        """This agent's containers with these extra labels (e.g. kind='worker')."""
        selector = [f"longshoreman.agent={self.agent_name}"]
        selector += [f"longshoreman.{key.replace('_', '-')}={value}" for key, value in labels.items()]
        found = []
        for summary in self.docker.api.containers(all=True, filters={"label": selector}):
            try:
                found.append(self.docker.containers.get(summary["Id"]))
            except docker.errors.NotFound:
                pass  # removed between the listing and the look-up (the cleanup is at work)
        return found

    def tag_image(self, tag: str, note: str) -> str:
        """A new tag of the example image with one more layer (a label), e.g. a new release to redeploy to."""
        dockerfile = f"FROM {EXAMPLE_IMAGE}\nLABEL longshoreman.test.note={note!r}\n"
        self.docker.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        self.images.append(tag)
        return tag

    def remove_all(self) -> None:
        """Remove this test's locations, then whatever containers, markers and images are left."""
        super().remove_all()
        for name in self.locations:
            # Let the agent stop its servers itself before anything is forced away under it.
            try:
                wait_for(partial(self._stopped, name), 15, f"{name} stopped")
            except AssertionError:
                pass
        remove_agent_objects(self.docker, self.agent_name)
        for image in self.images:
            try:
                self.docker.images.remove(image, force=True)
            except docker.errors.APIError:
                pass

    def _stopped(self, name: str) -> bool:
        return self.location(name)["status"] in ("STOPPED", "ERROR")


def code_volume(root: Path, package: str, source: str) -> tuple[str, str]:
    """Write a Python package under `root` for containers to mount: (volume 'ROOT:/code:ro', PYTHONPATH)."""
    directory = root / package
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__init__.py").write_text(textwrap.dedent(source))
    return f"{root}:/code:ro", "/code:/app"
