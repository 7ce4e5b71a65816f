"""Faults 1 and 2: an agent killed with kill -9 mid-run loses, duplicates and leaves behind nothing."""

from __future__ import annotations

from tests.support.faults.agent_kill import AgentKilledAndRestarted, AgentKilledWithReplica
from tests.support.faults.env import FaultEnv


def test_killing_the_supervising_agent_lets_the_replica_finish_every_run_once(fault_env: FaultEnv) -> None:
    scenario = AgentKilledWithReplica(runs=3, seconds=4)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert all(view["status"] == "SUCCESS" and view["attempt"] == 1 for view in audit.views.values()), audit.views
    assert not audit.problems, audit.problems  # and the location kept serving from the same code server


def test_killing_the_only_agent_and_restarting_it_later_finishes_every_run_once(fault_env: FaultEnv) -> None:
    # Longer than the heartbeat timeout (5 s), so Temporal has given up on the dead agent's activities.
    scenario = AgentKilledAndRestarted(delay_s=7)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert [view["status"] for view in audit.views.values()] == ["SUCCESS"] * 3, audit.views
