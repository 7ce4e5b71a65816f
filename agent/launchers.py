"""The factory: which launchers this agent enables, built from its settings."""

from __future__ import annotations

from temporalio.client import Client

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.base import Launcher
from activities.launchers.process import ProcessLauncher, ProcessLauncherSettings
from activities.launchers.registry import LauncherRegistry
from agent.settings import AgentSettings
from contracts.locations import LauncherKind


def build_launchers(settings: AgentSettings, control_plane: ControlPlaneClient) -> LauncherRegistry:
    """One instance per enabled launcher kind (LONGSHOREMAN_LAUNCHERS, default: process)."""
    launchers: dict[LauncherKind, Launcher] = {}
    for kind in settings.launchers:
        launchers[kind] = _build(kind, settings, control_plane)
    return LauncherRegistry(launchers)


def _build(kind: LauncherKind, settings: AgentSettings, control_plane: ControlPlaneClient) -> Launcher:
    del control_plane  # for launchers that need it (e.g. to resolve orphans); none does yet
    match kind:
        case "process":
            return ProcessLauncher(
                ProcessLauncherSettings(
                    state_dir=settings.state_dir.resolve(),
                    control_plane_url=settings.control_plane_url,
                    standby_workers=settings.standby_workers,
                )
            )
        case "kubernetes":
            # Imported here: agents without the kubernetes launcher never load its client.
            from activities.launchers.kubernetes.launcher import KubernetesLauncher

            return KubernetesLauncher(settings.kubernetes, control_plane_url=settings.control_plane_url)
        case "docker":
            # Imported here: agents without the docker launcher never load the docker SDK.
            from activities.launchers.docker.launcher import DockerLauncher
            from activities.launchers.owners import TemporalOwners
            from runtime.converter import data_converter

            # Orphans are judged by the workflows themselves (see activities/launchers/docker/cleanup.py), asked
            # with a client of the cleanup thread's own.
            converter = data_converter(settings.keyring())

            async def connect() -> Client:
                return await settings.temporal.connect(converter)

            owners = TemporalOwners(connect)
            docker_settings = settings.docker.resolved(settings.agent_name, settings.control_plane_url)
            return DockerLauncher(docker_settings, owners)
        case "ecs":
            # Imported here: agents without the ecs launcher never load boto3.
            from activities.launchers.ecs.launcher import EcsLauncher

            return EcsLauncher(settings.ecs.resolved(settings.agent_name, settings.control_plane_url))
        case _:
            raise ValueError(f"launcher '{kind}' is not available in this build of the agent")
