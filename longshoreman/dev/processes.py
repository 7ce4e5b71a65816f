"""Processes of the dev stack: its own components, and the code servers and run workers its agent recorded.

Liveness checks compare the start time in /proc (as the process launcher does) so a reused pid is never
mistaken for one of ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from longshoreman.cli.api_client import CliError


class StackError(CliError):
    """The dev stack could not start or a component died; the message names it and its log file."""


def start_ticks(pid: int) -> int | None:
    """Start time of a live, non-zombie process in clock ticks since boot (field 22 of /proc/PID/stat), else None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def process_alive(pid: int, ticks: int | None = None) -> bool:
    """True when `pid` runs and is not a zombie (and, given `ticks`, is still the process that started then)."""
    current = start_ticks(pid)
    return current is not None and (ticks is None or current == ticks)


def terminate_group(pid: int, grace_s: float, ticks: int | None = None) -> None:
    """SIGTERM the process group led by `pid` (or just `pid`), wait up to `grace_s`, then SIGKILL."""
    if not process_alive(pid, ticks):
        return
    try:
        group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return
    send: Callable[[int, int], None] = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and process_alive(pid, ticks):
        time.sleep(0.05)
    if process_alive(pid, ticks) or group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(pid, signal.SIGKILL)


@dataclass(frozen=True)
class RecordedProcess:
    """A process the agent's process launcher recorded: the command (a process-group leader) and its shim."""

    pid: int
    ticks: int | None
    shim_pid: int | None = None
    shim_ticks: int | None = None


def recorded_processes(agent_state_dir: Path) -> list[RecordedProcess]:
    """Code servers and run workers recorded under the agent's state dir (`pid.json`, or `handle.json`)."""
    found = []
    for path in sorted([*agent_state_dir.rglob("pid.json"), *agent_state_dir.rglob("handle.json")]):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if "pid" not in data and isinstance(data.get("ref"), dict):
            data = data["ref"]
        pid, shim = data.get("pid"), data.get("shim_pid")
        if isinstance(pid, int) and pid > 1 and pid != os.getpid():
            found.append(
                RecordedProcess(
                    pid=pid,
                    ticks=data.get("start_ticks") if isinstance(data.get("start_ticks"), int) else None,
                    shim_pid=shim if isinstance(shim, int) and shim > 1 else None,
                    shim_ticks=data.get("shim_start_ticks") if isinstance(data.get("shim_start_ticks"), int) else None,
                )
            )
    return found


def stop_recorded(process: RecordedProcess, grace_s: float) -> bool:
    """Stop a recorded command's process group, then its shim; True if anything was still running."""
    running = process_alive(process.pid, process.ticks)
    terminate_group(process.pid, grace_s, process.ticks)
    if process.shim_pid is not None and process_alive(process.shim_pid, process.shim_ticks):
        running = True
        # The shim exits by itself once it has recorded the exit status; give it a moment, then make sure.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and process_alive(process.shim_pid, process.shim_ticks):
            time.sleep(0.05)
        if process_alive(process.shim_pid, process.shim_ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.shim_pid, signal.SIGKILL)
    return running


def prune_agent_state(agent_state_dir: Path) -> int:
    """Delete the launcher's directories whose processes are all gone; return how many were deleted.

    A code location that is removed and added again starts over at generation 1, so its server name repeats;
    a directory left by an earlier session would then be adopted as an already exited server.
    """
    pruned = 0
    for directory in sorted(agent_state_dir.glob("*/*")):
        if not directory.is_dir():
            continue
        recorded = recorded_processes(directory)
        if any(
            process_alive(p.pid, p.ticks) or (p.shim_pid and process_alive(p.shim_pid, p.shim_ticks)) for p in recorded
        ):
            continue
        shutil.rmtree(directory, ignore_errors=True)
        pruned += 1
    return pruned


@dataclass
class ManagedProcess:
    """One component of the stack, started in its own session with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> ManagedProcess:
        """Start `cmd` with `env`, appending its stdout and stderr to `log_path`."""
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return cls(name, popen, log_path)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def tail(self, lines: int = 5) -> str:
        """The last lines of its log, joined with ' | ' for one-line errors."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def died(self) -> StackError:
        """The error to raise when this component exited on its own."""
        tail = self.tail()
        return StackError(
            f"the {self.name} exited with code {self.popen.returncode} (log: {self.log_path})"
            + (f": {tail}" if tail else "")
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM its process group, SIGKILL after `grace_s`, and reap it."""
        if self.alive():
            terminate_group(self.popen.pid, grace_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
