"""Image pull policy: make sure a location's image is on the engine before a container is created.

`never`: the image must already be there. `if-not-present`: pulled only when absent. `always`: pulled every
launch (the registry is the source of truth; a failed pull fails the launch even if an old copy exists, as
Kubernetes does). A missing image or a failed pull is a final LaunchError — a retry cannot fix a wrong image
name; only a new spec (redeploy) can. An engine that does not answer is a transient one.
"""

from __future__ import annotations

import docker
import docker.errors
import requests

from activities.launchers.base import LaunchError
from contracts.locations import PullPolicy


def ensure_image(client: docker.DockerClient, image: str, policy: PullPolicy) -> None:
    """Apply `policy` to `image` (blocking: call it in a thread)."""
    try:
        present = _present(client, image)
        if present and policy != "always":
            return
        if not present and policy == "never":
            raise LaunchError(
                f"image '{image}' is not present on the docker engine and the pull policy is 'never' "
                "(build or load it on the engine, or allow pulls with image_pull_policy: if-not-present)"
            )
        _pull(client, image)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise LaunchError(f"docker engine unreachable while checking image '{image}': {err}", final=False) from err


def _present(client: docker.DockerClient, image: str) -> bool:
    try:
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.NotFound:
        return False
    return True


def _pull(client: docker.DockerClient, image: str) -> None:
    repository, tag = docker.utils.parse_repository_tag(image)
    try:
        # The engine reports most pull failures inside the progress stream, not as an HTTP error.
        for message in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
            if isinstance(message, dict) and message.get("error"):
                raise LaunchError(f"image pull failed for '{image}': {_one_line(str(message['error']))}")
    except docker.errors.APIError as err:
        # A registry that refuses, or does not know the image, answers the same next time: final.
        raise LaunchError(f"image pull failed for '{image}': {_one_line(str(err.explanation or err))}") from err
    if not _present(client, image):
        raise LaunchError(f"image pull failed for '{image}': the engine reported no error but has no such image")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
