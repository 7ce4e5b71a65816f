"""Faults 1 and 2: an agent killed with kill -9 mid-run loses, duplicates and leaves behind nothing."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from contracts.supervision_lease import SUPERVISION_LOST_SIGNAL
from tests.support.faults.agent_kill import AgentKilledAndRestarted, AgentKilledWithReplica
from tests.support.faults.env import FaultEnv


async def handed_over(address: str, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per run: supervision_lost signals received, and watch attempts that ended by a heartbeat timeout."""
    temporal = await Client.connect(address)
    found = {}
    for run_id in run_ids:
        history = await temporal.get_workflow_handle(f"run:{run_id}").fetch_history()
        signals = sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and event.workflow_execution_signaled_event_attributes.signal_name == SUPERVISION_LOST_SIGNAL
        )
        retried = sum(
            1
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.attempt > 1
        )
        found[run_id] = (signals, retried)
    return found


def test_killing_the_supervising_agent_lets_the_replica_finish_every_run_once(fault_env: FaultEnv) -> None:
    scenario = AgentKilledWithReplica(runs=3, seconds=4)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert all(view["status"] == "SUCCESS" and view["attempt"] == 1 for view in audit.views.values()), audit.views
    assert not audit.problems, audit.problems  # and the location kept serving from the same code server
    # The dead agent's lease handed its watches over (a signal to each of its runs), not the watches' own
    # heartbeat timeouts: that is what makes a takeover take seconds with a thousand runs on the agent.
    lost = asyncio.run(handed_over(fault_env.temporal.address, scenario.killed_runs))
    assert lost and all(signals >= 1 and retried == 0 for signals, retried in lost.values()), lost


def test_killing_the_only_agent_and_restarting_it_later_finishes_every_run_once(fault_env: FaultEnv) -> None:
    # Longer than the heartbeat timeout (5 s), so Temporal has given up on the dead agent's activities.
    scenario = AgentKilledAndRestarted(delay_s=7)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert [view["status"] for view in audit.views.values()] == ["SUCCESS"] * 3, audit.views
