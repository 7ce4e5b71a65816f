"""What the docker launcher creates: container names, labels and create arguments, from specs (no I/O).

Every container carries labels saying who manages it and what it is; the watcher, a retried activity after
an agent restart and the cleanup find containers by them:

    longshoreman.managed-by=longshoreman   longshoreman.agent=<agent>   longshoreman.kind=server|worker
    longshoreman.name=<handle name>        longshoreman.location=<location>
    server: longshoreman.generation, .instance, .port         worker: longshoreman.run-id, .attempt, .job
"""

from __future__ import annotations

import re
from typing import Any

from activities.launchers.base import run_worker_env
from activities.launchers.docker.settings import DockerLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.code_server_protocol import PORT_VAR, code_server_command
from contracts.locations import LocationSpec
from contracts.run_protocol import run_worker_command

MANAGED_BY = "longshoreman"
LABEL_MANAGED_BY = "longshoreman.managed-by"
LABEL_AGENT = "longshoreman.agent"
LABEL_KIND = "longshoreman.kind"
LABEL_NAME = "longshoreman.name"
LABEL_LOCATION = "longshoreman.location"
LABEL_GENERATION = "longshoreman.generation"
LABEL_INSTANCE = "longshoreman.instance"
LABEL_PORT = "longshoreman.port"
LABEL_RUN_ID = "longshoreman.run-id"
LABEL_ATTEMPT = "longshoreman.attempt"
LABEL_JOB = "longshoreman.job"
SERVER = "server"
WORKER = "worker"
STOP_MARKER = "stop-marker"

# The run executor marks "job started" and writes its failure summary in these files; the agent reads them
# through the engine (a HEAD of the container's archive, and one read after a failed exit).
STARTED_FILE = "/tmp/.longshoreman-started"
TERMINATION_FILE = "/tmp/.longshoreman-termination"

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def container_name(agent: str, handle_name: str) -> str:
    """The container of a handle: unique per agent on a shared engine, and a valid DNS name on a network."""
    return f"{agent}-{handle_name}"


def marker_name(agent: str, handle_name: str) -> str:
    """Name of the volume that says a run attempt was stopped, so a late launch of it is refused."""
    return f"{agent}-stopped-{handle_name}"


def agent_filters(agent: str, kind: str | None = None) -> dict[str, list[str]]:
    """Label filters that select what one agent manages (optionally of one kind)."""
    labels = [f"{LABEL_MANAGED_BY}={MANAGED_BY}", f"{LABEL_AGENT}={agent}"]
    if kind is not None:
        labels.append(f"{LABEL_KIND}={kind}")
    return {"label": labels}


def memory_bytes(memory: str) -> int:
    """'512Mi', '1g', '64m', '1G', '1048576' -> bytes; every unit is binary, as in `docker run --memory`."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kmgKMG]?)i?", memory)
    if match is None:
        raise ValueError(f"not a memory size: {memory!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def network_of(spec: LocationSpec, settings: DockerLauncherSettings) -> str:
    """The network a location's containers join: its own choice, else the agent's."""
    return spec.docker.network or settings.network


def _common(spec: LocationSpec, settings: DockerLauncherSettings, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """Create arguments shared by code servers and run workers."""
    if not spec.image:
        raise ValueError(f"location '{spec.name}' has no image: the docker launcher runs containers from an image")
    network = network_of(spec, settings)
    args: dict[str, Any] = {
        "image": spec.image,
        "name": name,
        "detach": True,
        # User labels first: ours win (the spec validator also refuses the longshoreman. prefix).
        "labels": {**spec.docker.labels, **labels},
        "init": settings.init,
        "stop_signal": "SIGTERM",
    }
    if network in ("host", "bridge", "none"):
        args["network_mode"] = network
    else:
        args["network"] = network
    if settings.host_gateway_alias and network != "host":
        args["extra_hosts"] = {settings.host_gateway_alias: "host-gateway"}
    if spec.resources.cpu is not None:
        args["nano_cpus"] = int(spec.resources.cpu * 1e9)
    if spec.resources.memory is not None:
        limit = memory_bytes(spec.resources.memory)
        # No swap on top: a job over its limit is OOM-killed (and reported so) instead of crawling.
        args["mem_limit"] = limit
        args["memswap_limit"] = limit
    if spec.docker.volumes:
        args["volumes"] = list(spec.docker.volumes)
    if spec.docker.user:
        args["user"] = spec.docker.user
    if spec.docker.shm_size:
        args["shm_size"] = spec.docker.shm_size.removesuffix("i")
    return args


def server_args(
    spec: LocationSpec, generation: int, instance: int, handle_name: str, port: int, settings: DockerLauncherSettings
) -> dict[str, Any]:
    """Create arguments of one code-server container listening on `port` inside it."""
    agent = str(settings.agent_name)
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_AGENT: agent,
        LABEL_KIND: SERVER,
        LABEL_NAME: handle_name,
        LABEL_LOCATION: spec.name,
        LABEL_GENERATION: str(generation),
        LABEL_INSTANCE: str(instance),
        LABEL_PORT: str(port),
    }
    args = _common(spec, settings, container_name(agent, handle_name), labels)
    host_network = network_of(spec, settings) == "host"
    # On the host network the server shares the host's ports: bind where published ports would.
    host = settings.publish_host if host_network else "0.0.0.0"
    args["command"] = code_server_command(
        settings.python, spec.module, port, host, spec.command, spec.framework, spec.python_file
    )
    args["environment"] = {"PYTHONUNBUFFERED": "1", **spec.process_env(), PORT_VAR: str(port)}
    if not host_network and settings.server_access == "published-port":
        args["ports"] = {f"{port}/tcp": (settings.publish_host, None)}
    return args


def worker_args(
    request: LaunchRunInput, handle_name: str, token: str, settings: DockerLauncherSettings
) -> dict[str, Any]:
    """Create arguments of one run-attempt container; the run token goes into its environment only."""
    spec = request.location
    agent = str(settings.agent_name)
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_AGENT: agent,
        LABEL_KIND: WORKER,
        LABEL_NAME: handle_name,
        LABEL_LOCATION: spec.name,
        LABEL_RUN_ID: request.run_id,
        LABEL_ATTEMPT: str(request.attempt),
        LABEL_JOB: request.job[:200],
    }
    args = _common(spec, settings, container_name(agent, handle_name), labels)
    args["command"] = run_worker_command(settings.python)
    run_env = run_worker_env(
        request,
        str(settings.control_plane_url),
        token=token,
        started_file=STARTED_FILE,
        termination_file=TERMINATION_FILE,
    )
    args["environment"] = {"PYTHONUNBUFFERED": "1", **spec.process_env(), **run_env.to_env()}
    return args


def marker_labels(agent: str, handle_name: str, run_id: str, attempt: int) -> dict[str, str]:
    """Labels of a stop marker volume."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_AGENT: agent,
        LABEL_KIND: STOP_MARKER,
        LABEL_NAME: handle_name,
        LABEL_RUN_ID: run_id,
        LABEL_ATTEMPT: str(attempt),
    }
