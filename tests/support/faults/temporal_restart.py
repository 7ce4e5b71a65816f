"""Fault 5: the Temporal server stopped mid-run and started again on the same SQLite file and port."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation


@dataclass
class TemporalRestart(OneLocation):
    """Runs end and keep running while Temporal is down; supervision picks up where it was."""

    down_s: float = 5.0
    name: str = "Temporal restarted"
    refused: tuple[int, str, int] = (0, "", 0)  # a launch while Temporal was down: status, detail, runs added

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        ends_during = ledger.sleepy(self.location, 2)
        spans = ledger.sleepy(self.location, int(self.down_s) + 3)
        assert ledger.wait_all({"STARTED"}, 30, [ends_during, spans]), env.agent_logs()
        env.temporal.stop()
        # While Temporal is down a launch is refused (503) and leaves nothing behind.
        before = len(env.client.get("/api/runs", params={"location": self.location}).json()["runs"])
        response = env.client.post("/api/runs", json={"location": self.location, "job": "greet"})
        after = len(env.client.get("/api/runs", params={"location": self.location}).json()["runs"])
        self.refused = (response.status_code, response.json()["detail"], after - before)
        time.sleep(self.down_s)
        env.temporal.start()
        back = time.monotonic()
        # Launched once Temporal is back: the whole path works again.
        ledger.launch(self.location, "greet", {"name": "after"}, log_lines=1)
        ledger.settle(90)
        audit = ledger.audit(keep_servers={self.server})
        audit.recovery_s = time.monotonic() - back
        view = env.stack.location(self.location)
        if view["status"] != "LOADED" or view["server"] != self.server:
            audit.problems.append(f"location {view['status']} on {view['server']}, expected LOADED on {self.server}")
        return audit
