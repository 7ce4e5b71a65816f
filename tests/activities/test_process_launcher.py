"""The process launcher on real processes: idempotent launch, adoption, exit statuses, graceful stop."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from activities.launchers.base import LaunchError, Phase
from activities.launchers.process import ProcessLauncher, ProcessLauncherSettings
from contracts.agent import LaunchRunInput
from contracts.locations import LocationSpec
from tests.support.agent import alive, wait_for


def launcher(state_dir: Path) -> ProcessLauncher:
    return ProcessLauncher(ProcessLauncherSettings(state_dir=state_dir, control_plane_url="http://127.0.0.1:9"))


def code(tmp_path: Path, body: str) -> Path:
    """A module `jobs` with a Definitions object built from `body`."""
    root = tmp_path / "code"
    root.mkdir(exist_ok=True)
    header = "import os, signal, sys, time\nfrom longshoreman import Definitions, job\n"
    (root / "jobs.py").write_text(header + textwrap.dedent(body))
    return root


def request(root: Path, job: str, run_id: str = "r1", attempt: int = 1) -> LaunchRunInput:
    # No control plane here: the executor must not wait to deliver its events.
    env = {"LONGSHOREMAN_RUN_FLUSH_TIMEOUT_S": "0"}
    spec = LocationSpec(name="loc", module="jobs", working_dir=str(root), env=env)
    return LaunchRunInput(run_id=run_id, attempt=attempt, job=job, location=spec)


async def token() -> str:
    return "test-token"


async def wait_phase(proc: ProcessLauncher, handle, phases: set[Phase], timeout_s: float = 15):  # type: ignore[no-untyped-def]
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = await proc.worker_state(handle)
        if view.phase in phases:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker not in {phases}: {view}")


JOBS = """
@job
def ok():
    print("fine")

@job
def sleepy():
    time.sleep(60)

@job
def stubborn():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)

defs = Definitions(jobs=[ok, sleepy, stubborn])
"""


async def test_a_second_launch_of_the_same_attempt_adopts_the_running_worker(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    first = launcher(tmp_path / "state")
    handle = await first.launch_worker(request(root, "sleepy"), token)
    # A new launcher instance (an agent restart) launching the same attempt must find the same process.
    again = await launcher(tmp_path / "state").launch_worker(request(root, "sleepy"), token)
    assert again.ref["pid"] == handle.ref["pid"] and again.launched_at == handle.launched_at
    assert (await wait_phase(first, handle, {Phase.RUNNING})).phase is Phase.RUNNING
    await first.stop_worker("r1", 1, 5)


async def test_a_finished_worker_is_never_run_again(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    proc = launcher(tmp_path / "state")
    handle = await proc.launch_worker(request(root, "ok"), token)
    view = await wait_phase(proc, handle, {Phase.EXITED})
    assert view.exit_code == 0 and view.started
    again = await proc.launch_worker(request(root, "ok"), token)
    assert again.ref["pid"] == handle.ref["pid"]
    assert (await proc.worker_state(again)).phase is Phase.EXITED


async def test_exit_status_is_known_after_the_agent_restarts(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    handle = await launcher(tmp_path / "state").launch_worker(request(root, "sleepy"), token)
    os.kill(int(handle.ref["pid"]), signal.SIGKILL)
    view = await wait_phase(launcher(tmp_path / "state"), handle, {Phase.EXITED})
    assert view.signal == signal.SIGKILL


async def test_stop_kills_a_worker_that_ignores_sigterm_after_the_grace_period(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    proc = launcher(tmp_path / "state")
    handle = await proc.launch_worker(request(root, "stubborn"), token)
    await wait_phase(proc, handle, {Phase.RUNNING})
    result = await proc.stop_worker("r1", 1, grace_s=0.5)
    assert "killed after a grace period" in result.detail
    assert not alive(int(handle.ref["pid"]))
    assert (await proc.worker_state(handle)).signal == signal.SIGKILL


async def test_a_stop_before_the_launch_prevents_the_launch(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    proc = launcher(tmp_path / "state")
    await proc.stop_worker("r2", 1, grace_s=1)
    with pytest.raises(LaunchError, match="stopped before it started"):
        await proc.launch_worker(request(root, "sleepy", run_id="r2"), token)


async def test_an_unwritable_state_directory_is_a_clear_launch_error(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(LaunchError, match="cannot launch in state directory"):
        await launcher(blocker).launch_worker(request(root, "ok"), token)


async def test_the_worker_gets_the_run_protocol_but_not_the_agents_secrets(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LONGSHOREMAN_AGENT_TOKEN", "agent-secret")
    root = code(
        tmp_path,
        """
        @job
        def env():
            print(sorted(k for k in os.environ if k.startswith("LONGSHOREMAN_")))

        defs = Definitions(jobs=[env])
        """,
    )
    proc = launcher(tmp_path / "state")
    handle = await proc.launch_worker(request(root, "env"), token)
    await wait_phase(proc, handle, {Phase.EXITED})
    output = await proc.log_tail(handle.name)
    assert "LONGSHOREMAN_RUN_ID" in output and "LONGSHOREMAN_AGENT_TOKEN" not in output


async def test_a_dead_code_server_instance_is_relaunched_not_adopted(tmp_path: Path) -> None:
    root = code(tmp_path, JOBS)
    proc = launcher(tmp_path / "state")
    spec = LocationSpec(name="loc", module="jobs", working_dir=str(root))
    first = await proc.launch_server(spec, 1, 1)
    wait_for(lambda: alive(int(proc.pid_of(first.name) or 0)), 10, "server process")
    await proc.stop_server(first, 5)
    second = await proc.launch_server(spec, 1, 1)
    assert proc.pid_of(second.name) != first.ref.get("pid")
    assert (await proc.server_state(second)).phase is Phase.RUNNING
    await proc.stop_server(second, 5)


async def test_a_stop_arriving_while_the_launch_fetches_its_token_keeps_the_attempt_from_starting(
    tmp_path: Path,
) -> None:
    root = code(tmp_path, JOBS)
    proc = launcher(tmp_path / "state")
    stops = []

    async def token_after_a_cancel() -> str:
        # The cancel's stop runs while the launch waits for its token: it finds nothing launched yet.
        stops.append(await proc.stop_worker("r1", 1, grace_s=5))
        return "test-token"

    with pytest.raises(LaunchError, match="stopped before it started"):
        await proc.launch_worker(request(root, "ok"), token_after_a_cancel)
    assert [s.detail for s in stops] == ["never started"]
    directory = tmp_path / "state" / "runs" / "run-r1-a1"
    assert not (directory / "pid.json").exists() and not (directory / "output.log").exists()
    with pytest.raises(LaunchError, match="stopped before it started"):  # a retried launch neither
        await proc.launch_worker(request(root, "ok"), token)
