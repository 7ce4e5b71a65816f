"""Fault 9: the process launcher's state directory full (a tiny tmpfs) or read-only (remounted)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import wait_until

TMPFS_SIZE = "4m"
# Every trial's failed restarts add to the location's crash-loop backoff (capped at 60 s; it resets once a server
# has been stable for a while, longer than a trial): after the space is freed, the next attempt may be a minute off.
RECOVERY_S = 90.0


def mount_tmpfs(path: Path, size: str = TMPFS_SIZE) -> None:
    """A tmpfs of `size` at `path` (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True)


def remount(path: Path, mode: str) -> None:
    """Remount `path` read-only ("ro") or read-write ("rw")."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def unmount(path: Path) -> None:
    """Lazy unmount: processes still holding files there do not block it."""
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(path: Path) -> Path:
    """Write one file until the file system is full; returns it (delete it to free the space)."""
    filler = path / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                break
    # Small writes may still fit in the last partial page: take that too.
    with open(filler, "ab", buffering=0) as handle:
        for _ in range(4096):
            try:
                handle.write(b"\0" * 64)
            except OSError:
                break
    return filler


def corrupt_state_files(state_dir: Path) -> list[str]:
    """State files that do not parse (a half-written launch, pid or exit record)."""
    broken = []
    for path in state_dir.glob("*/*/*.json"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as err:
            broken.append(f"{path.relative_to(state_dir)}: {err}")
    return broken


@dataclass
class DiskFull:
    """Runs and a code-server restart while the state dir is full, then read-only; then everything recovers."""

    name: str = "state dir full / read-only"
    location: str = ""
    reasons: dict[str, str] | None = None
    location_error: str = ""

    def setup(self, env: FaultEnv) -> None:
        mount_tmpfs(env.state_dir)
        # Run directories on a file system of their own: it can be made read-only between runs (a file system
        # with files open for writing, like a code server's log, cannot be).
        mount_tmpfs(env.state_dir / "runs", "2m")
        env.start_agent()
        self.location = env.stack.add_location(env.spec("disk"))["name"]

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        refused = frozenset({"FAILURE"})
        env.stack.wait_location(self.location, {"LOADED"}, timeout_s=RECOVERY_S)
        running = ledger.sleepy(self.location, 4)
        assert ledger.wait_all({"STARTED"}, 30, [running]), env.agent_logs()
        fillers = [fill(env.state_dir), fill(env.state_dir / "runs")]
        full = ledger.launch(self.location, "greet", {"name": "full"}, statuses=refused)
        # The code server dies while the disk is full: its restart cannot be launched either.
        server = env.stack.location(self.location)["server"]
        os.kill(env.stack.server_pid(server), signal.SIGKILL)
        error = wait_until(
            lambda: (v := env.stack.location(self.location))["status"] == "ERROR" and v, 60, "the location in ERROR"
        )
        self.location_error = error["message"]
        assert ledger.wait_all({"FAILURE", "SUCCESS"}, 60, [full, running]), env.agent_logs()
        for filler in fillers:
            filler.unlink()
        env.stack.wait_location(self.location, {"LOADED"}, timeout_s=RECOVERY_S)
        ledger.launch(self.location, "greet", {"name": "freed"}, log_lines=1)
        assert ledger.settle(60), env.agent_logs()
        remount(env.state_dir / "runs", "ro")
        try:
            read_only = ledger.launch(self.location, "greet", {"name": "ro"}, statuses=refused)
            assert ledger.wait_all({"FAILURE", "SUCCESS"}, 60, [read_only]), env.agent_logs()
        finally:
            remount(env.state_dir / "runs", "rw")
        ledger.launch(self.location, "greet", {"name": "rw"}, log_lines=1)
        ledger.settle(60)
        self.reasons = {"full": ledger.view(full)["reason"], "read-only": ledger.view(read_only)["reason"]}  # type: ignore[index]
        audit = ledger.audit(keep_servers={env.stack.location(self.location)["server"]})
        broken = corrupt_state_files(env.state_dir)
        audit.events_lost += len(broken)
        audit.problems.extend(f"corrupt state file {b}" for b in broken)
        return audit

    def teardown(self, env: FaultEnv) -> None:
        """Unmount the state dir (after the environment was closed)."""
        unmount(env.state_dir / "runs")
        unmount(env.state_dir)
