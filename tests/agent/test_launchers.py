"""The launcher factory builds the ecs launcher from the agent's settings (agent-wide defaults filled in)."""

from __future__ import annotations

import pytest

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.ecs.launcher import EcsLauncher
from agent.launchers import build_launchers
from agent.settings import AgentSettings


async def test_the_factory_builds_the_ecs_launcher_with_the_agents_name_and_control_plane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LONGSHOREMAN_LAUNCHERS", '["process", "ecs"]')
    monkeypatch.setenv("LONGSHOREMAN_AGENT_NAME", "ops.host-1")
    monkeypatch.setenv("LONGSHOREMAN_CONTROL_PLANE_URL", "https://cp.example")
    monkeypatch.setenv("LONGSHOREMAN_ECS__REGION", "eu-west-1")
    monkeypatch.setenv("LONGSHOREMAN_PLAINTEXT_PAYLOADS", "true")
    settings = AgentSettings()
    control_plane = ControlPlaneClient(settings.control_plane_url, "-")
    registry = build_launchers(settings, control_plane)
    launcher = registry.get("ecs")
    assert isinstance(launcher, EcsLauncher)
    # A host name is not an ECS service-name prefix: dots become dashes.
    assert launcher.agent == "ops-host-1" and launcher.settings.control_plane_url == "https://cp.example"
    await registry.aclose()
    await control_plane.aclose()
