"""Fault 8c: a cancel racing the run's own completion — at launch, once started, and as the job succeeds."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation

MOMENTS = ("launch", "started", "job-success")


@dataclass
class CancelRacingCompletion(OneLocation):
    """Cancel a quick run at each moment; the final status is SUCCESS or CANCELED and agrees with the events."""

    rounds: int = 1
    name: str = "cancel racing completion"

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        answers: list[str] = []
        for _ in range(self.rounds):
            for moment in MOMENTS:
                run_id = ledger.launch(
                    self.location, "greet", {"name": moment}, statuses=frozenset({"SUCCESS", "CANCELED"}), log_lines=1
                )
                self._wait_for(env, run_id, moment)
                response = env.client.post(f"/api/runs/{run_id}/cancel")
                answers.append(f"{moment}: {response.status_code}")
                if response.status_code not in (202, 409):
                    raise AssertionError(f"cancel at {moment}: {response.status_code} {response.text}")
        ledger.settle(60)
        audit = ledger.audit(keep_servers={self.server})
        for run_id, view in audit.views.items():
            response = env.client.post(f"/api/runs/{run_id}/cancel")
            if response.status_code != 409:  # a finished run cannot be canceled any more
                audit.problems.append(f"run {run_id} {view['status']}: a late cancel got {response.status_code}")
                audit.lost += 1
        return audit

    @staticmethod
    def _wait_for(env: FaultEnv, run_id: str, moment: str) -> None:
        deadline = time.monotonic() + 30
        while moment != "launch" and time.monotonic() < deadline:
            if moment == "started":
                if env.client.get(f"/api/runs/{run_id}").json()["status"] != "STARTING":
                    return
            else:
                events = env.client.get(f"/api/runs/{run_id}/events").json()["events"]
                if any(e["type"] == "JOB_SUCCESS" for e in events):
                    return
            time.sleep(0.005)
