"""Fault 6: a run worker that ignores SIGTERM on cancel is killed, with its children, after the grace period."""

from __future__ import annotations

import re

from tests.support.agent import alive, wait_for
from tests.support.faults.audit import Ledger
from tests.support.faults.code import STUBBORN, write_module
from tests.support.faults.env import FaultEnv


def test_cancel_kills_a_worker_that_ignores_sigterm_after_the_grace_period(fault_env: FaultEnv) -> None:
    code = write_module(fault_env.root / "code", "stubborn", STUBBORN)
    location = fault_env.stack.add_location(fault_env.spec("stub", module="stubborn", working_dir=str(code)))
    ledger = Ledger(fault_env.client, fault_env.state_dir)
    run_id = ledger.launch(location["name"], "hang", cancel_grace_s=1, statuses=frozenset({"CANCELED"}))
    fault_env.stack.wait_run(run_id, {"STARTED"})
    line = wait_for(
        lambda: next((x for x in fault_env.stack.logs(run_id) if "ignoring SIGTERM" in x), None), 10, "the job's line"
    )
    worker, child = fault_env.stack.worker_pid(run_id), int(re.findall(r"child (\d+)", line)[0])

    assert fault_env.client.post(f"/api/runs/{run_id}/cancel").status_code == 202
    run = fault_env.stack.wait_run(run_id)

    assert run["status"] == "CANCELED", run
    assert "killed after a grace period of 1 s" in run["reason"], run["reason"]
    assert not alive(worker) and not alive(child), "the worker and the child it started must be gone"
    types = [e["type"] for e in fault_env.stack.events(run_id)]
    assert "JOB_SUCCESS" not in types and "JOB_FAILURE" not in types, types
    audit = ledger.audit(keep_servers={location["server"]})
    assert audit.clean, audit
