"""Upgrading agents without stopping runs (Worker Versioning, agent/versioning.py): runs in flight are neither lost
nor launched again; new runs start on the new version; runs stay on the version that started them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio.client import Client

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.agent import AgentProcess, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack


def agent(
    stack: Stack, temporal: TemporalDevServer, plane: ControlPlane, token: str, tmp: Path, **env: str
) -> AgentProcess:
    """Another agent process on the stack's queue and state dir (same host), with these settings."""
    return AgentProcess(
        temporal_address=temporal.address,
        control_plane_url=plane.url,
        agent_token=token,
        task_queue=stack.queue,
        state_dir=stack.agent.state_dir,
        log_file=tmp / f"agent-{env.get('LONGSHOREMAN_BUILD_ID', 'unversioned')}.log",
        extra_env={"LONGSHOREMAN_ORPHAN_SWEEP_INTERVAL_S": "1", "LONGSHOREMAN_ORPHAN_GRACE_S": "2"} | env,
    ).start()


def versioned(build_id: str, drain_s: float = 0) -> dict[str, str]:
    """The settings of a versioned agent of this build."""
    return {
        "LONGSHOREMAN_VERSIONING": "auto",
        "LONGSHOREMAN_BUILD_ID": build_id,
        "LONGSHOREMAN_DRAIN_TIMEOUT_S": str(drain_s),
    }


async def build_of(client: Client, workflow_id: str) -> str:
    """The build id the workflow's current run is on ('' while unversioned)."""
    description = await client.get_workflow_handle(workflow_id).describe()
    info = description.raw_description.workflow_execution_info.versioning_info
    return str(info.deployment_version.build_id)


async def wait_build(client: Client, workflow_id: str, build_id: str, timeout_s: float = 30) -> None:
    """Until the workflow runs on `build_id`."""
    for _ in range(int(timeout_s * 10)):
        if await build_of(client, workflow_id) == build_id:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} is on {await build_of(client, workflow_id)!r}, not {build_id!r}")


def launched_once(stack: Stack, run_ids: list[str]) -> None:
    """Every run SUCCESS, its worker started once, no second attempt."""
    for run_id in run_ids:
        run = stack.wait_run(run_id, timeout_s=60)
        assert (run["status"], run["attempt"]) == ("SUCCESS", 1), run
        assert len([e for e in stack.events(run_id) if e["type"] == "RUN_START"]) == 1, run_id
        assert not list((stack.agent.state_dir / "runs").glob(f"run-{run_id}-a1.ended-*")), "relaunched"


async def test_an_unversioned_agent_is_replaced_by_a_versioned_one_with_runs_in_flight(
    stack: Stack, temporal_server: TemporalDevServer, control_plane: ControlPlane, agent_token: str,
    temporal_client: Client, tmp_path: Path,
) -> None:  # fmt: skip
    view = stack.add_location(stack.spec())
    runs = [stack.launch("sleepy", {"seconds": 6}) for _ in range(3)]
    for run_id in runs:
        stack.wait_run(run_id, {"STARTED"})

    new = agent(stack, temporal_server, control_plane, agent_token, tmp_path, **versioned("b2"))
    try:
        wait_for(lambda: "is current" in new.log_tail(), 30, "the new version to become current")
        stack.agent.stop()  # the old agent goes; its runs' workers keep running, the new agent supervises them

        launched_once(stack, runs)
        assert stack.location(view["name"])["server"] == view["server"], "the code server was not restarted"
        later = stack.launch("greet")
        assert stack.wait_run(later)["status"] == "SUCCESS"
        assert await build_of(temporal_client, f"run:{later}") == "b2"
    finally:
        new.stop()
        new.kill_leftovers()


async def test_runs_stay_on_the_version_that_started_them_and_the_old_agent_drains_them(
    stack: Stack, temporal_server: TemporalDevServer, control_plane: ControlPlane, agent_token: str,
    temporal_client: Client, tmp_path: Path,
) -> None:  # fmt: skip
    stack.agent.stop()
    began = time.monotonic()
    v1 = agent(stack, temporal_server, control_plane, agent_token, tmp_path, **versioned("b1", drain_s=90))
    v2: AgentProcess | None = None
    try:
        wait_for(lambda: "is current" in v1.log_tail(), 60, "b1 to become current")
        # The old runs must still run when v1 is stopped, after v2 has started (as slowly as v1 did on this
        # machine) and a new run is done: their length follows v1's start-up.
        seconds = 8 + 3 * (time.monotonic() - began)
        view = stack.add_location(stack.spec())
        await wait_build(temporal_client, f"location:{view['name']}", "b1")
        old_runs = [stack.launch("sleepy", {"seconds": seconds}) for _ in range(2)]
        for run_id in old_runs:
            stack.wait_run(run_id, {"STARTED"})

        v2 = agent(stack, temporal_server, control_plane, agent_token, tmp_path, **versioned("b2"))
        await wait_build(temporal_client, f"location:{view['name']}", "b2")
        new_run = stack.launch("greet")
        assert stack.wait_run(new_run)["status"] == "SUCCESS"
        assert [await build_of(temporal_client, f"run:{r}") for r in old_runs] == ["b1", "b1"]
        assert await build_of(temporal_client, f"run:{new_run}") == "b2"
        assert stack.location(view["name"])["server"] == view["server"], "moving the workflow kept the code server"

        v1.stop(timeout_s=120)  # drains: it stops only once its pinned runs have finished
        assert all(stack.run(r)["status"] == "SUCCESS" for r in old_runs), [stack.run(r) for r in old_runs]
        launched_once(stack, old_runs)
        assert "still serves" in v1.log_tail(20000), "the old agent waited for its runs"
    finally:
        for process in (v1, v2):
            if process is not None:
                process.stop()
