"""Fault 3: a code server in a crash loop — backoff grows, the status says so, no busy loop, then recovery."""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.code import CRASHY, write_module
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import wait_until

DELAY = re.compile(r"(?:retrying|restarting) in ([0-9.]+) s")
SUPERVISION = {"backoff_initial_s": 0.5, "backoff_max_s": 2.0, "stable_after_s": 30.0}


@dataclass
class CrashLoop:
    """A module whose server exits shortly after it starts, for as long as a flag file exists."""

    window_s: float = 10.0
    name: str = "code server crash loop"
    location: str = ""
    # What the last trial saw: the location's history during the loop, and the restarts in the window.
    history: list[dict[str, Any]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    starts_in_window: int = 0

    def setup(self, env: FaultEnv) -> None:
        env.start_agent()
        code = write_module(env.root / "code", "crashy", CRASHY)
        self.flag = env.root / "crash-flag"
        spec = env.spec(
            "crashy",
            module="crashy",
            working_dir=str(code),
            env={"CRASH_FLAG": str(self.flag), "CRASH_AFTER_S": "0.3"},
            supervision=SUPERVISION,
        )
        self.location = spec["name"]
        env.stack.add_location(spec)

    def trial(self, env: FaultEnv) -> Audit:
        before = len(self._events(env))
        self.flag.touch()
        # The flag only bites at the next start: kill the serving instance's process to begin the loop.
        server = env.stack.location(self.location)["server"]
        os.kill(env.stack.server_pid(server), signal.SIGKILL)
        time.sleep(self.window_s)
        loop = self._events(env)[before:]
        self.history = loop
        self.starts_in_window = sum(1 for e in loop if e["status"] == "STARTING")
        self.delays = [float(m.group(1)) for e in loop if (m := DELAY.search(e["message"]))]
        self.flag.unlink()
        stopped_crashing = time.monotonic()
        view = wait_until(
            lambda: (v := env.stack.location(self.location))["status"] == "LOADED" and self._stable(env, v) and v,
            30,
            "the location LOADED and staying up",
        )
        audit = Ledger(env.client, env.state_dir).audit(keep_servers={view["server"]})
        audit.recovery_s = time.monotonic() - stopped_crashing
        return audit

    def _stable(self, env: FaultEnv, view: dict[str, Any]) -> bool:
        """Serving, and the same server a crash's worth of time later."""
        time.sleep(1.0)
        again = env.stack.location(self.location)
        return again["status"] == "LOADED" and again["server"] == view["server"]

    def _events(self, env: FaultEnv) -> list[dict[str, Any]]:
        return list(env.client.get(f"/api/locations/{self.location}/events").json()["events"])
