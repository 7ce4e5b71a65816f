"""A real agent subprocess (`python -m agent`) for tests, and helpers to wait on the control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.encryption import key_env

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class AgentProcess:
    """One agent process on a task queue with its own state directory."""

    temporal_address: str
    control_plane_url: str
    agent_token: str
    task_queue: str
    state_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    encryption_keys: str | None = None  # default: the test session's keys
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> AgentProcess:
        """Start the agent; it is ready once its worker polls (a few hundred ms)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LONGSHOREMAN_")}
        env.update(
            LONGSHOREMAN_TEMPORAL__ADDRESS=self.temporal_address,
            LONGSHOREMAN_CONTROL_PLANE_URL=self.control_plane_url,
            LONGSHOREMAN_AGENT_TOKEN=self.agent_token,
            LONGSHOREMAN_TASK_QUEUE=self.task_queue,
            LONGSHOREMAN_STATE_DIR=str(self.state_dir),
            # A beat a second: the test control planes call an agent silent after a few seconds.
            LONGSHOREMAN_HEARTBEAT_INTERVAL_S="1",
        )
        env.update(key_env(self.encryption_keys))
        env.update(self.extra_env)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Graceful stop (SIGTERM): run workers and code servers keep running."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """kill -9 the agent."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the agent's log, for failure messages."""
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""

    def handle_pid(self, kind: str, name: str) -> int | None:
        """Pid of a server ('servers') or worker ('runs') this agent's launcher started."""
        import json

        path = self.state_dir / kind / name / "pid.json"
        return int(json.loads(path.read_text())["pid"]) if path.exists() else None

    def kill_leftovers(self) -> None:
        """Kill every process group the launcher started (test cleanup)."""
        import json

        for pid_file in self.state_dir.glob("*/*/pid.json"):
            try:
                os.killpg(int(json.loads(pid_file.read_text())["pid"]), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` and the last value after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last seen: {last!r}")


def alive(pid: int) -> bool:
    """True if `pid` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, /proc was read
        return False


def get_json(client: httpx.Client, path: str) -> Any:
    """GET a path and return its JSON body (asserting 200)."""
    response = client.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()
