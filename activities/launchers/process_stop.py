"""Stopping what the process launcher started: SIGTERM to the process group, a grace period, SIGKILL.

Works from the state directory alone (pid.json, exit.json), so any agent can stop what another one started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from activities.launchers.process_files import is_same_process, read_json, stop_result
from contracts.agent import StopResult

PID_WAIT_S = 10.0


async def wait_for_records(directory: Path, timeout_s: float, shim: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until the shim has written pid.json (or exit.json) in `directory`; False if it did not in time."""
    deadline = time.monotonic() + timeout_s
    # Backing off: hundreds of launches waiting at once must not turn into a busy loop.
    delay = 0.002
    while time.monotonic() < deadline:
        if (directory / "pid.json").exists() or (directory / "exit.json").exists():
            return True
        if not (directory / "launch.json").exists():
            return False  # the launch saw a stop and gave up before starting anything
        if shim is not None and shim.poll() is not None:
            # The shim gave up without a record (no room to write one): nothing runs, no point waiting.
            return (directory / "pid.json").exists() or (directory / "exit.json").exists()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


async def stop_process(directory: Path, grace_s: float) -> StopResult:
    """Stop what runs for `directory`: SIGTERM to its process group, SIGKILL after `grace_s`; idempotent."""
    if (directory / "launch.json").exists():
        # A launch may be in flight (its activity does not learn of a cancel): let its process appear.
        await wait_for_records(directory, PID_WAIT_S)
    info = read_json(directory / "pid.json")
    ended = read_json(directory / "exit.json")
    if ended is not None:
        return stop_result("already exited", ended, directory)
    if info is None:
        return StopResult(stopped=False, detail="never started")
    pid, ticks = int(info["pid"]), int(info["start_ticks"])
    if not is_same_process(pid, ticks):
        return stop_result("already exited", await exit_record(directory), directory)
    signal_group(pid, signal.SIGTERM)
    # A stopped (SIGSTOP) or frozen process only acts on SIGTERM once it runs again.
    signal_group(pid, signal.SIGCONT)
    if await wait_gone(pid, ticks, grace_s):
        return stop_result("stopped by SIGTERM", await exit_record(directory), directory)
    signal_group(pid, signal.SIGKILL)
    await wait_gone(pid, ticks, 10.0)
    # Once the stop returns, observers see the exit (the shim records it a moment after the process ends).
    ended = await exit_record(directory)
    return stop_result(f"killed after a grace period of {grace_s:g} s", ended, directory)


async def exit_record(directory: Path, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """exit.json, which the shim writes a moment after the process ended (None if it does not come)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ended = read_json(directory / "exit.json")
        if ended is not None or time.monotonic() >= deadline:
            return ended
        await asyncio.sleep(0.01)


async def wait_gone(pid: int, ticks: int, timeout_s: float) -> bool:
    """True once process `pid` (started at `ticks`) is gone; False if it still runs after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while is_same_process(pid, ticks):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to a process group, if it still exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
