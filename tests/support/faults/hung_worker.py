"""Fault 6: a run worker that ignores SIGTERM (and leaves a child that does too) is canceled."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from tests.support.agent import alive
from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.code import STUBBORN, write_module
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import wait_until


@dataclass
class HungWorker:
    """Cancel with a grace period of 1 s: the worker and its child must be killed, the run CANCELED."""

    name: str = "run worker ignores SIGTERM"
    location: str = ""
    server: str = ""
    pids: tuple[int, int] = (0, 0)  # the last trial's worker and child
    run_id: str = ""

    def setup(self, env: FaultEnv) -> None:
        env.start_agent()
        code = write_module(env.root / "code", "stubborn", STUBBORN)
        view = env.stack.add_location(env.spec("stub", module="stubborn", working_dir=str(code)))
        self.location, self.server = view["name"], view["server"]

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        self.run_id = ledger.launch(self.location, "hang", cancel_grace_s=1, statuses=frozenset({"CANCELED"}))
        line = wait_until(
            lambda: next((x for x in env.stack.logs(self.run_id) if "ignoring SIGTERM" in x), None),
            30,
            "the job ignoring SIGTERM",
        )
        self.pids = (env.stack.worker_pid(self.run_id), int(re.findall(r"child (\d+)", line)[0]))
        canceled = time.monotonic()
        response = env.client.post(f"/api/runs/{self.run_id}/cancel")
        assert response.status_code == 202, response.text
        ledger.settle(60)
        audit = ledger.audit(keep_servers={self.server})
        audit.recovery_s = time.monotonic() - canceled
        # The child is in the worker's process group, not in the launcher's records: check it too.
        if alive(self.pids[1]):
            audit.orphans += 1
            audit.problems.append(f"the job's child {self.pids[1]} is still running")
        return audit
