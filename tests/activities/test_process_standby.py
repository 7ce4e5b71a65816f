"""Standby run workers of the process launcher, on real processes: started ahead, handed their run, let go."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from activities.launchers.base import Phase
from activities.launchers.process import ProcessLauncher, ProcessLauncherSettings
from activities.launchers.process_files import CLOCK_TICKS, proc_start_ticks
from tests.activities.test_process_launcher import code, request, token, wait_phase
from tests.support.agent import wait_for

JOBS = """
@job
def show():
    print("run", os.environ["LONGSHOREMAN_RUN_ID"], "greeting", os.environ.get("GREETING"), "in", os.getcwd())
    print("to stderr", file=sys.stderr)

@job
def fail():
    raise ValueError("boom")

defs = Definitions(jobs=[show, fail])
"""


def standby_launcher(state_dir: Path, enabled: bool = True) -> ProcessLauncher:
    settings = ProcessLauncherSettings(
        state_dir=state_dir, control_plane_url="http://127.0.0.1:9", standby_workers=enabled
    )
    return ProcessLauncher(settings)


def standby_pids(root: Path) -> list[int]:
    """Processes waiting as standby run workers (shims and executors) in working directory `root`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            in_root = os.readlink(entry / "cwd") == str(root)
        except OSError:
            continue
        if in_root and b"--standby" in command:
            pids.append(int(entry.name))
    return pids


async def with_a_standby(tmp_path: Path) -> tuple[ProcessLauncher, Path]:
    """A launcher that has run one job in `tmp_path`'s code, so a standby worker now waits; and the code dir."""
    root = code(tmp_path, JOBS)
    proc = standby_launcher(tmp_path / "state")
    await wait_phase(proc, await proc.launch_worker(request(root, "show", run_id="a"), token), {Phase.EXITED})
    wait_for(lambda: len(standby_pids(root)) == 2, 10, "a standby shim and executor")
    return proc, root


def uptime_ticks() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * CLOCK_TICKS)


async def test_a_later_run_starts_in_a_worker_started_ahead_and_gets_its_own_environment(tmp_path: Path) -> None:
    proc, root = await with_a_standby(tmp_path)
    await asyncio.sleep(0.3)  # clock ticks are 10 ms: let the standby be visibly older than the launch

    launched_at = uptime_ticks()
    second = await proc.launch_worker(request(root, "show", run_id="r2", attempt=2), token)
    # The start time the shim recorded for the run's executor: it was running before this launch.
    assert int(second.ref["start_ticks"]) < launched_at

    view = await wait_phase(proc, second, {Phase.EXITED})
    assert view.exit_code == 0 and view.started
    output = await proc.log_tail(second.name)
    assert f"run r2 greeting None in {root}" in output and "to stderr" in output, output
    assert "run a " not in output
    await proc.aclose()


async def test_a_failing_job_in_a_standby_reports_like_a_cold_one(tmp_path: Path) -> None:
    proc, root = await with_a_standby(tmp_path)

    handle = await proc.launch_worker(request(root, "fail", run_id="f"), token)
    view = await wait_phase(proc, handle, {Phase.EXITED})
    assert view.exit_code == 1 and "ValueError: boom" in view.message
    assert "ValueError: boom" in await proc.log_tail(handle.name)
    await proc.aclose()


async def test_launches_that_outrun_the_standbys_keep_more_waiting(tmp_path: Path) -> None:
    proc, root = await with_a_standby(tmp_path)

    burst = await asyncio.gather(*(proc.launch_worker(request(root, "show", run_id=f"b{i}"), token) for i in range(3)))

    for handle in burst:
        assert (await wait_phase(proc, handle, {Phase.EXITED})).exit_code == 0
    # One launch took the standby, two started cold: three wait now, each a shim and an executor.
    wait_for(lambda: len(standby_pids(root)) == 6, 10, "three standby shims and executors")
    await proc.aclose()
    wait_for(lambda: not standby_pids(root), 10, "the standbys to end with their launcher")


async def test_standbys_end_with_their_agent_and_are_not_started_when_disabled(tmp_path: Path) -> None:
    proc, root = await with_a_standby(tmp_path)

    await proc.aclose()  # an agent stopping (or dying: its pipes close the same way)
    wait_for(lambda: not standby_pids(root), 10, "the standby to end")
    runs = sorted(p.name for p in (tmp_path / "state" / "runs").iterdir())
    assert runs == ["run-a-a1"]  # a standby that never got a run leaves nothing behind

    off = standby_launcher(tmp_path / "off-state", enabled=False)
    await wait_phase(off, await off.launch_worker(request(root, "show", run_id="b"), token), {Phase.EXITED})
    await asyncio.sleep(0.3)
    assert not standby_pids(root)


@pytest.mark.parametrize("victim", ["executor", "shim"])
async def test_a_standby_that_died_while_waiting_is_replaced_by_a_fresh_worker(tmp_path: Path, victim: str) -> None:
    proc, root = await with_a_standby(tmp_path)
    is_shim = {pid: b"process_shim" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in standby_pids(root)}
    killed = next(pid for pid, shim in is_shim.items() if shim == (victim == "shim"))
    os.kill(killed, signal.SIGKILL)  # the out-of-memory killer, say, while it waited
    # Dead, not dying: a worker killed a moment after its run arrived is a different case (its run fails, and is
    # retried as an infrastructure failure).
    wait_for(lambda: proc_start_ticks(killed) is None, 10, "the standby to be dead")

    handle = await proc.launch_worker(request(root, "show", run_id="b"), token)
    assert int(handle.ref["pid"]) not in is_shim
    view = await wait_phase(proc, handle, {Phase.EXITED})
    assert view.exit_code == 0 and "run b greeting" in await proc.log_tail(handle.name)
    await proc.aclose()
    wait_for(lambda: not standby_pids(root), 10, "no standby left behind")
