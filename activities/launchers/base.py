"""The launcher protocol: how activities start, observe and stop code servers and run workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from contracts import run_protocol
from contracts.agent import LaunchRunInput, StopResult
from contracts.handles import CodeServerHandle, RunWorkerHandle
from contracts.locations import LauncherKind, LocationSpec


class Phase(StrEnum):
    """What a launcher can see of one process, container or pod."""

    PENDING = "pending"  # launched, the job (or server) not running yet
    RUNNING = "running"
    EXITED = "exited"  # ended, exit status known
    LOST = "lost"  # gone without an exit status


class ProcessView(BaseModel):
    """One observation of a server or worker."""

    phase: Phase
    exit_code: int | None = None
    signal: int | None = None
    oom_killed: bool = False
    started: bool = False  # the job got as far as running (even if it has ended since)
    final: bool = False  # ended for a reason no restart or retry can fix (image cannot be pulled, bad config)
    message: str = ""  # termination message written by the run executor, or the launcher's own detail


class LaunchError(Exception):
    """A launch failed. `final`: a retry will not fix it (bad spec, missing image); only a new spec will."""

    def __init__(self, message: str, final: bool = True) -> None:
        super().__init__(message)
        self.final = final


def launch_failure(err: LaunchError) -> ApplicationError:
    """The activity error for a failed launch: final ones are not retried and halt a location's restarts."""
    if err.final:
        return ApplicationError(str(err), type="LaunchError", non_retryable=True)
    return ApplicationError(str(err), type="LaunchFailed")


TokenSource = Callable[[], Awaitable[str]]


class Launcher(Protocol):
    """Starts, observes and stops code servers and run workers on one backend."""

    kind: LauncherKind

    async def launch_server(self, spec: LocationSpec, generation: int, instance: int) -> CodeServerHandle:
        """Start the named code-server instance, or adopt it if it already exists."""
        ...

    async def server_state(self, handle: CodeServerHandle) -> ProcessView:
        """Observe a code server."""
        ...

    async def stop_server(self, handle: CodeServerHandle, grace_s: float) -> StopResult:
        """Stop a code server (graceful, then forced) and remove it; idempotent."""
        ...

    async def launch_worker(self, request: LaunchRunInput, token: TokenSource) -> RunWorkerHandle:
        """Start the worker of one run attempt, or adopt it; `token` is awaited only for a real launch."""
        ...

    async def worker_state(self, handle: RunWorkerHandle) -> ProcessView:
        """Observe a run worker."""
        ...

    async def stop_worker(self, run_id: str, attempt: int, grace_s: float) -> StopResult:
        """Stop the worker of one run attempt (graceful, then forced); idempotent."""
        ...

    async def log_tail(self, name: str, max_bytes: int = 4000) -> str:
        """The last output of a server or worker, for failure reasons."""
        ...


@runtime_checkable
class WaitsForWorkers(Protocol):
    """A launcher that can wait for a worker's phase to change without being polled (event-driven)."""

    async def wait_worker(self, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float) -> ProcessView:
        """The worker's view once its phase is one of `phases`, or its current view after `timeout_s`."""
        ...


@runtime_checkable
class WaitsForServers(Protocol):
    """A launcher that can wait for a code server to end without being polled (event-driven)."""

    async def wait_server_end(self, handle: CodeServerHandle, timeout_s: float) -> ProcessView:
        """The server's view once it has ended, or its current view after `timeout_s`."""
        ...


async def wait_server_end(
    launcher: Launcher, handle: CodeServerHandle, timeout_s: float, poll_s: float = 0.25
) -> ProcessView:
    """Wait up to `timeout_s` for a code server to end: event-driven if the launcher can, else polling."""
    if isinstance(launcher, WaitsForServers):
        return await launcher.wait_server_end(handle, timeout_s)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        view = await launcher.server_state(handle)
        remaining = deadline - asyncio.get_running_loop().time()
        if view.phase in (Phase.EXITED, Phase.LOST) or remaining <= 0:
            return view
        await asyncio.sleep(min(poll_s, remaining))


async def wait_worker(
    launcher: Launcher, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float, poll_s: float = 0.1
) -> ProcessView:
    """Wait up to `timeout_s` for a worker to reach one of `phases`: event-driven if the launcher can, else polling."""
    if isinstance(launcher, WaitsForWorkers):
        return await launcher.wait_worker(handle, phases, timeout_s)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        view = await launcher.worker_state(handle)
        if view.phase in phases or asyncio.get_running_loop().time() >= deadline:
            return view
        await asyncio.sleep(poll_s)


def run_worker_env(
    request: LaunchRunInput,
    control_plane_url: str,
    *,
    token: str | None = None,
    started_file: str | None = None,
    termination_file: str | None = None,
) -> run_protocol.RunWorkerEnv:
    """The run worker's environment for one attempt (every launcher's; `token` None: passed by reference)."""
    logs = request.compute_logs
    return run_protocol.RunWorkerEnv(
        run_id=request.run_id,
        attempt=request.attempt,
        module=request.location.module or "",
        job=request.job,
        config=request.config,
        tags=request.tags,
        control_plane_url=control_plane_url,
        token=token,
        started_file=started_file,
        termination_file=termination_file,
        log_store=logs.url if logs is not None else None,
        forward_logs=logs.forwarded if logs is not None else True,
        framework=request.location.framework,
        python_file=request.location.python_file,
    )


def describe_exit(view: ProcessView) -> str:
    """How a process ended, in words: 'exited with code 2', 'was killed by signal SIGKILL', ..."""
    return run_protocol.describe_exit(view.exit_code, view.signal, view.oom_killed, view.message)
