"""Fault 4: the control plane down (kill -9) while runs start and finish, back later on the same database and port."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation


@dataclass
class ControlPlaneOutage(OneLocation):
    """Runs launched, started, running and finishing across an outage of `down_s`; everything arrives later."""

    down_s: float = 30.0
    name: str = "control plane down"

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        ends_during = ledger.sleepy(self.location, 2)
        spans = ledger.sleepy(self.location, int(self.down_s) + 2)
        assert ledger.wait_all({"STARTED"}, 30, [ends_during, spans]), env.agent_logs()
        # Launched a moment before the outage: they start (and the quick one ends) while it lasts.
        ledger.launch(self.location, "greet", {"name": "outage"}, log_lines=1)
        ledger.sleepy(self.location, 2)
        env.plane.kill()
        time.sleep(self.down_s)
        env.plane.restart()
        back = time.monotonic()
        ledger.settle(90)
        audit = ledger.audit(keep_servers={self.server})
        audit.recovery_s = time.monotonic() - back
        return audit
