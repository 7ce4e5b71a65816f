"""Exactly one alert when the control plane is killed while it delivers; an agent killed is "unavailable", then
"available" once it is back (a real agent process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.controlplane.alerts.conftest import history, replay, report_run, wait_until
from tests.support.agent import AgentProcess
from tests.support.alert_receivers import WebhookReceiver
from tests.support.control_plane import ControlPlane


def test_a_control_plane_killed_mid_delivery_still_delivers_exactly_one(
    control_plane: ControlPlane,
    api: httpx.Client,
    agent_api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    loaded_location: str,
    launch: Callable[..., dict[str, Any]],
    unique: str,
):
    add_policy(
        name=f"kill-{unique}",
        events=["run_failure"],
        filters={"locations": [loaded_location]},
        channels=[webhook.channel()],
    )
    webhook.down()
    run = launch()
    report_run(agent_api, run["id"], "FAILURE", 1, "job failed (exit code 1)")
    wait_until(lambda: [r for r in history(api, subject=run["id"]) if r["outcome"] == "failed"], 10, "a failed attempt")
    control_plane.kill()  # its worker dies between two attempts of the delivery activity
    webhook.up()
    time.sleep(1)
    assert webhook.hooks == []  # nobody delivers while no control plane runs
    control_plane.restart()
    wait_until(lambda: webhook.hooks, 30, "the delivery after the restart")
    time.sleep(5)
    assert len(webhook.hooks) == 1 and webhook.hooks[0].verified
    delivered = [r for r in history(api, subject=run["id"]) if r["outcome"] == "delivered"]
    assert len(delivered) == 1


def test_an_agent_killed_is_unavailable_then_available_when_it_is_back(
    temporal_server: TemporalDevServer,
    control_plane: ControlPlane,
    agent_token: str,
    api: httpx.Client,
    webhook: WebhookReceiver,
    add_policy: Callable[..., dict[str, Any]],
    unique: str,
    tmp_path: Path,
):
    name = f"agent-{unique}"
    add_policy(
        name=f"agents-{unique}",
        events=["agent_unavailable"],
        thresholds={"agent_unavailable_s": 1},
        filters={"locations": [f"agent:{name}"]},
        channels=[webhook.channel()],
    )
    agent = AgentProcess(
        temporal_address=temporal_server.address,
        control_plane_url=control_plane.url,
        agent_token=agent_token,
        task_queue=f"queue-{unique}",
        state_dir=tmp_path / "agent-state",
        log_file=tmp_path / "agent.log",
        extra_env={"LONGSHOREMAN_AGENT_NAME": name},
    ).start()
    try:
        wait_until(
            lambda: any(
                a["name"] == name and a["status"] == "AVAILABLE" for a in api.get("/api/agents").json()["agents"]
            ),
            30,
            "the agent's heartbeat",
        )
        time.sleep(2)
        assert webhook.hooks == []
        agent.kill()
        # Silent for the control plane's agent timeout (4 s here), then the policy's 1 s.
        down = wait_until(lambda: webhook.hooks, 20, "the agent-unavailable alert")[0].json
        assert down["event"]["kind"] == "agent_unavailable" and down["event"]["subject"] == name
        assert down["title"] == f"Agent {name} is unavailable for more than 1 s"
        assert "no heartbeat since" in down["event"]["reason"]
        agent.start()
        wait_until(lambda: len(webhook.hooks) >= 2, 20, "the agent-available alert")
        time.sleep(3)
        assert [hook.json["event"]["kind"] for hook in webhook.hooks] == ["agent_unavailable", "agent_available"]
        replay(temporal_server.address, f"agent-watch:{name}")  # the watch, still running, replays so far
    finally:
        agent.stop()
        agent.kill_leftovers()
