"""Fault 7: a code server that hangs (SIGSTOP: alive, its health endpoint never answers) is replaced."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import wait_until

SUPERVISION = {"probe_interval_s": 0.5, "probe_timeout_s": 0.5, "failure_threshold": 3, "stop_grace_s": 2.0}


@dataclass
class HungServer:
    """Freeze the serving code server; it must be declared UNHEALTHY, killed and replaced."""

    name: str = "code server hangs"
    location: str = ""
    hung_pid: int = 0

    def setup(self, env: FaultEnv) -> None:
        env.start_agent()
        self.location = env.stack.add_location(env.spec("hang", supervision=SUPERVISION))["name"]

    def trial(self, env: FaultEnv) -> Audit:
        old = env.stack.location(self.location)["server"]
        self.hung_pid = env.stack.server_pid(old)
        os.kill(self.hung_pid, signal.SIGSTOP)
        frozen = time.monotonic()
        view = wait_until(
            lambda: (v := env.stack.location(self.location))["status"] == "LOADED" and v["server"] != old and v,
            60,
            "a replacement server LOADED",
        )
        recovered = time.monotonic()
        audit = Ledger(env.client, env.state_dir).audit(keep_servers={view["server"]})
        audit.recovery_s = recovered - frozen
        return audit
