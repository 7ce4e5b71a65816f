"""Fault 8: duplicate and concurrent requests — one idempotency key from many clients, redeploys at once,
a cancel racing the run's completion."""

from __future__ import annotations

from tests.support.faults.cancel_race import CancelRacingCompletion
from tests.support.faults.env import FaultEnv


def test_a_cancel_racing_completion_ends_in_one_consistent_status(fault_env: FaultEnv) -> None:
    scenario = CancelRacingCompletion(rounds=2)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    assert not audit.problems, audit.problems
