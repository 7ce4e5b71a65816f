"""Fault 11: an operator steering runs from outside the control plane (Temporal CLI/UI) loses nothing."""

from __future__ import annotations

from tests.support.faults.env import FaultEnv
from tests.support.faults.operator import OperatorSteering


def test_terminate_and_cancels_of_queued_and_finished_runs_leave_every_run_consistent(fault_env: FaultEnv) -> None:
    scenario = OperatorSteering()
    scenario.setup(fault_env)
    try:
        audit = scenario.trial(fault_env)
    finally:
        scenario.teardown(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert not audit.problems, audit.problems
    assert scenario.recoveries[0] <= 5.0, f"terminate → FAILURE shown after {scenario.recoveries[0]:.1f} s"
