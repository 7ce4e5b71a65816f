"""Fault 6: a run worker that ignores SIGTERM on cancel is killed, with its children, after the grace period."""

from __future__ import annotations

from tests.support.agent import alive
from tests.support.faults.env import FaultEnv
from tests.support.faults.hung_worker import HungWorker


def test_cancel_kills_a_worker_that_ignores_sigterm_after_the_grace_period(fault_env: FaultEnv) -> None:
    scenario = HungWorker()
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    run = fault_env.stack.run(scenario.run_id)
    assert run["status"] == "CANCELED", run
    assert "killed after a grace period of 1 s" in run["reason"], run["reason"]
    assert not any(alive(pid) for pid in scenario.pids), "the worker and the child it started must be gone"
    types = [e["type"] for e in fault_env.stack.events(scenario.run_id)]
    assert "JOB_SUCCESS" not in types and "JOB_FAILURE" not in types, types
    assert audit.clean, audit
