"""Process launcher: code servers and run workers as local processes that outlive the agent.

Each server or worker gets a directory under the agent's state dir, named by its idempotency key
(`servers/<location>-g<gen>-i<instance>`, `runs/run-<id>-a<attempt>`). A stdlib-only shim
(process_shim.py) runs in its own session, spawns the command, writes `pid.json` and, when the command
ends, `exit.json`. A retried activity finds the directory and adopts what is there instead of launching
again; pid + start time guard against pid reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from activities.launchers.base import LaunchError, Phase, ProcessView, TokenSource, run_worker_env
from activities.launchers.orphans import Managed
from activities.launchers.process_exits import ExitWatcher, readable_or_closed
from activities.launchers.process_files import (
    exited_view,
    is_same_process,
    read_json,
    tail,
    write_json,
)
from activities.launchers.process_standby import StandbyWorkers
from activities.launchers.process_stop import PID_WAIT_S, stop_process, wait_for_records
from contracts.agent import LaunchRunInput, StopResult
from contracts.code_server_protocol import PORT_VAR, code_server_command
from contracts.handles import (
    CodeServerHandle,
    RunWorkerHandle,
    code_server_name,
    parse_code_server_name,
    parse_run_worker_name,
    run_worker_name,
)
from contracts.locations import LauncherKind, LocationSpec
from contracts.run_protocol import run_worker_command, standby_preload

log = logging.getLogger(__name__)
SHIM = Path(__file__).with_name("process_shim.py")
SHIM_NO_ROOM = 3  # the shim's exit code when it could not reserve room for its records (nothing was started)
# Only these of the agent's variables reach user processes: never the agent's token or settings.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "USER")
STARTED_POLL_S = 0.02
REAP_INTERVAL_S = 1.0
ORPHAN_POLL_S = 1.0
Prepare = Callable[[], Awaitable[tuple[list[str], dict[str, str], dict[str, Any]]]]
ADOPT_WAIT_S = 3.0


class ProcessLauncherSettings(BaseModel):
    """What the process launcher needs from the agent's settings."""

    state_dir: Path
    control_plane_url: str
    python: str = sys.executable
    host: str = "127.0.0.1"
    max_parallel_launches: int = 8
    standby_workers: bool = True  # keep a run worker started ahead of its run per location (process_standby.py)


class ProcessLauncher:
    """Launcher for local processes (the embedded default)."""

    kind: LauncherKind = "process"

    def __init__(self, settings: ProcessLauncherSettings) -> None:
        self.settings = settings
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._exits = ExitWatcher()
        self._last_reap = 0.0
        # Spawning is CPU-bound: a burst of launches queues here instead of starving the event loop (heartbeats).
        self._spawning = asyncio.Semaphore(settings.max_parallel_launches)
        self._standbys = StandbyWorkers(self._shim_command(), self._worker_command(), self._adopt)

    async def aclose(self) -> None:
        """Let the standby workers go; launched servers and workers keep running."""
        self._standbys.close()

    # ---- code servers ---------------------------------------------------------------------

    async def launch_server(self, spec: LocationSpec, generation: int, instance: int) -> CodeServerHandle:
        """Start the code-server instance, or adopt the one a previous attempt started."""
        name = code_server_name(spec.name, generation, instance)
        directory = self._dir("servers", name)

        async def prepare() -> tuple[list[str], dict[str, str], dict[str, Any]]:
            port = _free_port(self.settings.host)
            command = code_server_command(
                self.settings.python,
                spec.module,
                port,
                self.settings.host,
                spec.command,
                spec.framework,
                spec.python_file,
            )
            env = self._base_env(spec.process_env()) | {PORT_VAR: str(port)}
            return command, env, {"port": port}

        # A dead instance is no use to anyone: relaunch it (a run worker, in contrast, must never run twice).
        async with self._spawning:
            meta = await self._ensure_started(directory, prepare, spec.working_dir, relaunch_ended=True)
        return CodeServerHandle.of(
            self.kind,
            spec.name,
            generation,
            instance,
            url=f"http://{self.settings.host}:{meta['port']}",
            ref={"directory": str(directory), "port": int(meta["port"])},
            launched_at=datetime.fromisoformat(str(meta["launched_at"])),
        )

    async def server_state(self, handle: CodeServerHandle) -> ProcessView:
        """Observe a code server's process."""
        view = self._observe(self._dir("servers", handle.name), handle.launched_at)
        if view.phase is Phase.PENDING:
            return view.model_copy(update={"phase": Phase.RUNNING}) if self._pid_alive(handle.name) else view
        return view

    async def wait_server_end(self, handle: CodeServerHandle, timeout_s: float) -> ProcessView:
        """Wait for the server to end without polling: the shim's pidfd wakes us."""
        directory = self._dir("servers", handle.name)
        info = read_json(directory / "pid.json")
        if info is not None:
            exited = self._exits.exited(int(info["shim_pid"]), int(info["shim_start_ticks"]))
            if not exited.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(exited), timeout_s)
                return await self.server_state(handle)
        await asyncio.sleep(min(ORPHAN_POLL_S, timeout_s))
        return await self.server_state(handle)

    async def stop_server(self, handle: CodeServerHandle, grace_s: float) -> StopResult:
        """Stop a code server: SIGTERM to its process group, then SIGKILL after the grace period."""
        return await stop_process(self._dir("servers", handle.name), grace_s)

    # ---- run workers ----------------------------------------------------------------------

    async def launch_worker(self, request: LaunchRunInput, token: TokenSource) -> RunWorkerHandle:
        """Start the worker of one run attempt, or adopt the one a previous attempt started."""
        name = run_worker_name(request.run_id, request.attempt)
        directory = self._dir("runs", name)
        spec = request.location

        async def prepare() -> tuple[list[str], dict[str, str], dict[str, Any]]:
            run_env = run_worker_env(
                request,
                self.settings.control_plane_url,
                token=await token(),
                started_file=str(directory / "started"),
                termination_file=str(directory / "termination"),
            )
            return self._worker_command(), self._base_env(spec.process_env()) | run_env.to_env(), {}

        standby_env = None
        if self.settings.standby_workers:
            standby_env = self._base_env(spec.process_env()) | standby_preload(spec.framework)
        async with self._spawning:
            meta = await self._ensure_started(directory, prepare, spec.working_dir, standby_env=standby_env)
        return RunWorkerHandle.of(
            self.kind,
            request.run_id,
            request.attempt,
            ref={"directory": str(directory), **self._pid_ref(directory)},
            launched_at=datetime.fromisoformat(str(meta["launched_at"])),
        )

    async def worker_state(self, handle: RunWorkerHandle) -> ProcessView:
        """Observe a run worker: PENDING until the executor marks the job started, then RUNNING."""
        directory = self._dir("runs", handle.name)
        view = self._observe(directory, handle.launched_at)
        if not (directory / "started").exists():
            return view
        if view.phase is Phase.PENDING and self._pid_alive(handle.name):
            return view.model_copy(update={"phase": Phase.RUNNING, "started": True})
        return view.model_copy(update={"started": True})

    async def wait_worker(self, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float) -> ProcessView:
        """Wait for the worker's phase without polling its exit: the shim's pidfd wakes us when it ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        directory = self._dir("runs", handle.name)
        while True:
            view = await self.worker_state(handle)
            remaining = deadline - loop.time()
            if view.phase in phases or remaining <= 0:
                return view
            info = read_json(directory / "pid.json")
            if info is None:
                await asyncio.sleep(min(STARTED_POLL_S, remaining))
                continue
            exited = self._exits.exited(int(info["shim_pid"]), int(info["shim_start_ticks"]))
            if exited.done():
                # The shim is gone but the worker lives on (someone killed the shim): nothing to wait on, poll.
                await asyncio.sleep(min(ORPHAN_POLL_S, remaining))
                continue
            # A starting worker marks itself started with a file, so that phase is polled (briefly); an exit
            # wakes us at once through the shim's pidfd either way.
            starting = view.phase is Phase.PENDING and Phase.RUNNING in phases
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(exited), min(STARTED_POLL_S, remaining) if starting else remaining
                )

    async def stop_worker(self, run_id: str, attempt: int, grace_s: float) -> StopResult:
        """Stop one attempt's worker; a later launch of that attempt is refused."""
        directory = self._dir("runs", run_worker_name(run_id, attempt))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "stop_requested").touch()
        return await stop_process(directory, grace_s)

    async def log_tail(self, name: str, max_bytes: int = 4000) -> str:
        """The last output of a server or worker."""
        kind = "runs" if name.startswith("run-") else "servers"
        return tail(self._dir(kind, name) / "output.log", max_bytes)

    # ---- orphans (activities/launchers/orphans.py) -----------------------------------------

    async def managed(self) -> list[Managed]:
        """Every code server and run worker in the state dir whose process is still alive."""
        found: list[Managed] = []
        for directory, created in self._live("servers"):
            if server := parse_code_server_name(directory.name):
                found.append(Managed("server", directory.name, created, location=server[0], instance=server[2]))
        for directory, created in self._live("runs"):
            if worker := parse_run_worker_name(directory.name):
                found.append(Managed("worker", directory.name, created, run_id=worker[0], attempt=worker[1]))
        return found

    def _live(self, kind: str) -> list[tuple[Path, datetime]]:
        root = self.settings.state_dir / kind
        live = []
        for directory in root.iterdir() if root.is_dir() else ():
            meta = read_json(directory / "launch.json")
            if meta is not None and not (directory / "exit.json").exists() and self._alive(directory):
                live.append((directory, datetime.fromisoformat(str(meta["launched_at"]))))
        return live

    async def stop_orphan(self, item: Managed, grace_s: float) -> None:
        """Stop an orphaned server or worker (a worker's attempt is also marked: never relaunched)."""
        if item.kind == "worker":
            await self.stop_worker(item.run_id, item.attempt, grace_s)
        else:
            await stop_process(self._dir("servers", item.name), grace_s)

    def pid_of(self, name: str) -> int | None:
        """Pid of a server's or worker's main process, if known (for tests and diagnostics)."""
        kind = "runs" if name.startswith("run-") else "servers"
        info = read_json(self._dir(kind, name) / "pid.json")
        return int(info["pid"]) if info else None

    # ---- shared machinery -------------------------------------------------------------------

    def _dir(self, kind: str, name: str) -> Path:
        return self.settings.state_dir / kind / name

    def _base_env(self, spec_env: dict[str, str]) -> dict[str, str]:
        inherited = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        return inherited | {"PYTHONUNBUFFERED": "1"} | spec_env

    async def _ensure_started(
        self,
        directory: Path,
        prepare: Prepare,
        working_dir: str | None,
        relaunch_ended: bool = False,
        standby_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Adopt what a previous attempt started in `directory`, or start it: through a standby worker of the same
        kind if one waits (`standby_env`: the base environment that kind is started with), else afresh."""
        try:
            meta = read_json(directory / "launch.json")
            if meta is not None:
                started = await wait_for_records(directory, ADOPT_WAIT_S)
                ended = (directory / "exit.json").exists() or not self._alive(directory)
                if started and not (relaunch_ended and ended):
                    return meta
                # No process (the agent died between writing launch.json and spawning), or a dead server: afresh.
                directory.rename(directory.with_name(f"{directory.name}.ended-{time.time_ns()}"))
            if (directory / "stop_requested").exists():
                raise LaunchError("stopped before it started: not launching")
            directory.mkdir(parents=True, exist_ok=True)
            command, env, extra = await prepare()
            cwd = working_dir or os.getcwd()
            if not Path(cwd).is_dir():
                raise LaunchError(f"working directory {cwd} does not exist")
            meta = {"launched_at": datetime.now(UTC).isoformat(), "command": command, "cwd": cwd, **extra}
            # Its fsync takes milliseconds on a busy disk: in a thread, not stalling every other run's activities,
            # heartbeats and workflow tasks on the event loop meanwhile.
            await asyncio.to_thread(write_json, directory / "launch.json", meta)
            # A stop marks the directory, then looks for launch.json; a launch writes launch.json, then looks for
            # the mark. One of them sees the other: a stop never misses a launch it would have to stop, and a
            # stopped attempt never starts (a standby worker can finish a short job before anyone could stop it).
            if (directory / "stop_requested").exists():
                (directory / "launch.json").unlink()
                raise LaunchError("stopped before it started: not launching")
            child = await self._spawn(directory, command, env, cwd, standby_env)
        except OSError as err:
            # Disk full or a permissions slip: an operator can fix it, so retry rather than give up.
            message = f"cannot launch in state directory {directory}: {err.strerror or err}"
            raise LaunchError(message, final=False) from err
        if standby_env is not None:
            self._standbys.refill(cwd, standby_env)
        if not await wait_for_records(directory, PID_WAIT_S, child):
            if child.poll() == SHIM_NO_ROOM:
                raise LaunchError(
                    f"cannot launch in state directory {directory}: no room to record the process "
                    "(is the disk full or read-only?)",
                    final=False,
                )
            raise LaunchError(f"process did not start within {PID_WAIT_S:.0f} s: {tail(directory / 'output.log', 500)}")
        return meta

    async def _spawn(
        self, directory: Path, command: list[str], env: dict[str, str], cwd: str, standby_env: dict[str, str] | None
    ) -> subprocess.Popen[bytes]:
        """The shim running `command` for `directory` once it has written its records: a standby's, else a new one."""
        if standby_env is not None:
            shim = self._standbys.start(cwd, standby_env, directory, env)
            if shim is not None:
                assert shim.stdout is not None
                if await readable_or_closed(shim.stdout, PID_WAIT_S):
                    return shim  # its records are written: the run runs there
                code = await _exit_code(shim)
                if code == SHIM_NO_ROOM:
                    return shim  # the caller says why: no room for the records
                # It had died while it waited (killed, out of memory), or its worker had: nothing was recorded.
                log.info("the standby run worker in %s had ended (%s); launching afresh", cwd, code)
        child = subprocess.Popen(
            [*self._shim_command(), str(directory), "--", *command],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # the shim says "pid.json is written" with a byte here
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._adopt(child)
        assert child.stdout is not None
        await readable_or_closed(child.stdout, PID_WAIT_S)
        return child

    def _adopt(self, child: subprocess.Popen[bytes]) -> None:
        """Track a shim we started, to reap it when it ends."""
        self._children[child.pid] = child

    def _shim_command(self) -> list[str]:
        return [self.settings.python, "-I", "-S", str(SHIM)]

    def _worker_command(self) -> list[str]:
        return run_worker_command(self.settings.python)

    def _pid_ref(self, directory: Path) -> dict[str, int]:
        info = read_json(directory / "pid.json") or {}
        return {key: int(info[key]) for key in ("pid", "start_ticks") if key in info}

    def _pid_alive(self, name: str) -> bool:
        kind = "runs" if name.startswith("run-") else "servers"
        return self._alive(self._dir(kind, name))

    def _alive(self, directory: Path) -> bool:
        info = read_json(directory / "pid.json")
        return info is not None and is_same_process(int(info["pid"]), int(info["start_ticks"]))

    def _observe(self, directory: Path, launched_at: datetime) -> ProcessView:
        self._reap()
        ended = read_json(directory / "exit.json")
        if ended is not None:
            return exited_view(directory, ended)
        info = read_json(directory / "pid.json")
        if info is None:
            age = (datetime.now(UTC) - launched_at).total_seconds()
            return ProcessView(phase=Phase.PENDING if age < PID_WAIT_S else Phase.LOST, message="never started")
        if is_same_process(int(info["pid"]), int(info["start_ticks"])):
            return ProcessView(phase=Phase.PENDING)
        if is_same_process(int(info["shim_pid"]), int(info["shim_start_ticks"])):
            return ProcessView(phase=Phase.PENDING)  # exited a moment ago; the shim is writing exit.json
        ended = read_json(directory / "exit.json")
        if ended is not None:
            return exited_view(directory, ended)
        return ProcessView(
            phase=Phase.LOST, message="process vanished without an exit status (its supervisor was killed)"
        )

    def _reap(self) -> None:
        # Shims we started are our children: poll them so finished ones do not linger as zombies. At most once a
        # second: every observation calls this, and a poll per child per observation is quadratic in the runs.
        now = time.monotonic()
        if now - self._last_reap < REAP_INTERVAL_S:
            return
        self._last_reap = now
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]


async def _exit_code(shim: subprocess.Popen[bytes], timeout_s: float = 1.0) -> int | None:
    """The exit code of a shim that closed its stdout without writing its records (it is ending), if it ends
    within `timeout_s`. A rare path (a standby that had died): a thread may wait."""
    try:
        return await asyncio.to_thread(shim.wait, timeout_s)
    except subprocess.TimeoutExpired:
        return None


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
