"""Docker launcher: code servers and run workers as containers on a Docker engine, through the docker SDK.

- Idempotent by name: a container is named `<agent>-<handle name>`; a retried launch (after an agent
  restart, on another replica) finds it and adopts it. A run attempt's container is never started twice;
  a stopped attempt leaves a marker volume so a launch that arrives late is refused.
- State calls read the watcher's cache (one event stream per launcher), never the engine.
- A run container is RUNNING once the executor marks its job started (as with the process launcher: the
  start timeout is launched -> job running); its exit code, the engine's OOM flag and the executor's
  termination message make the failure reason.
- Finished run containers stay for `retention_s` (exit status and logs readable), then the cleanup removes
  them, along with orphans (see cleanup.py).

The SDK is blocking: engine calls run in threads (asyncio.to_thread); the watcher has its own threads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors
import requests

from activities.launchers.base import LaunchError, Phase, ProcessView, TokenSource
from activities.launchers.docker import containers
from activities.launchers.docker.cleanup import Cleanup, managed_item
from activities.launchers.docker.images import ensure_image
from activities.launchers.docker.settings import DockerLauncherSettings
from activities.launchers.docker.watcher import ContainerState, ContainerWatcher
from activities.launchers.orphans import Managed, OwnerCheck
from contracts.agent import LaunchRunInput, StopResult
from contracts.handles import CodeServerHandle, RunWorkerHandle, code_server_name, run_worker_name
from contracts.locations import LauncherKind, LocationSpec

log = logging.getLogger("longshoreman.docker")
T = TypeVar("T")
SYNC_WAIT_S = 10.0  # a state call waits this long for the first sync before failing (retryably)
ALIVE = frozenset({"created", "running", "restarting", "paused"})
SIGNAL_EXIT_BASE = 128  # docker reports a container killed by signal N as exit code 128 + N
MAX_SIGNAL = 64


class DockerLauncher:
    """Launcher for containers on one Docker engine."""

    kind: LauncherKind = "docker"

    def __init__(self, settings: DockerLauncherSettings, owners: OwnerCheck | None = None) -> None:
        if not settings.agent_name or not settings.control_plane_url:
            raise ValueError("DockerLauncherSettings must be resolved (agent name, control-plane URL)")
        self.settings = settings
        self.agent = settings.agent_name
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        self.watcher = ContainerWatcher(
            self._new_client, self.agent, settings.start_probe_interval_s, settings.resync_interval_s
        )
        self.cleanup = Cleanup(self._new_client, self.watcher, settings, owners)
        self.watcher.start()
        self.cleanup.start()

    def close(self) -> None:
        """Stop the watcher and the cleanup (containers keep running)."""
        self.cleanup.close()
        self.watcher.close()

    async def aclose(self) -> None:
        """At agent shutdown: stop watching; the containers keep running for the next agent to adopt."""
        self.close()

    async def managed(self) -> list[Managed]:
        """Every live code-server and run-worker container of this agent (from the watcher's cache)."""
        items = (managed_item(state) for state in self.watcher.states() if not state.ended)
        return [item for item in items if item is not None]

    # ---- code servers -----------------------------------------------------------------------

    async def launch_server(self, spec: LocationSpec, generation: int, instance: int) -> CodeServerHandle:
        """Start the code-server container of this instance, or adopt the one a previous attempt started."""
        name = code_server_name(spec.name, generation, instance)
        cname = containers.container_name(self.agent, name)
        existing = await self._inspect(cname)
        if existing is not None and existing.status not in ALIVE:
            # A dead instance is no use to anyone: replace it (a run worker, in contrast, never runs twice).
            await self._engine(self._remove, cname)
            existing = None
        if existing is None:
            image = _image_of(spec)
            await self._engine(ensure_image, self._docker(), image, spec.image_pull_policy)
            host_network = containers.network_of(spec, self.settings) == "host"
            port = _free_port(self.settings.publish_host) if host_network else spec.port
            try:
                args = containers.server_args(spec, generation, instance, name, port, self.settings)
            except ValueError as err:
                raise LaunchError(str(err)) from err
            existing = await self._create(cname, args)
        if existing.status == "created":
            existing = await self._start(cname)
        return CodeServerHandle.of(
            self.kind,
            spec.name,
            generation,
            instance,
            url=self._server_url(spec, existing),
            ref={"container": existing.id[:12], "port": int(existing.labels.get(containers.LABEL_PORT, spec.port))},
            launched_at=existing.created,
        )

    async def server_state(self, handle: CodeServerHandle) -> ProcessView:
        """Observe a code server from the cache."""
        await self.watcher.wait_synced(SYNC_WAIT_S)
        return _server_view(self.watcher.get(containers.container_name(self.agent, handle.name)))

    async def wait_server_end(self, handle: CodeServerHandle, timeout_s: float) -> ProcessView:
        """Wait for the server's container to end, woken by the event stream (no polling)."""
        await self.watcher.wait_synced(SYNC_WAIT_S)
        cname = containers.container_name(self.agent, handle.name)
        state = await self.watcher.wait_for(cname, lambda s: _server_view(s).phase in _ENDED, timeout_s)
        return _server_view(state)

    async def stop_server(self, handle: CodeServerHandle, grace_s: float) -> StopResult:
        """Stop the server's container (SIGTERM, grace, SIGKILL) and remove it; idempotent."""
        cname = containers.container_name(self.agent, handle.name)
        result = await self._stop(cname, grace_s)
        await self._engine(self._remove, cname)
        return result

    # ---- run workers ------------------------------------------------------------------------

    async def launch_worker(self, request: LaunchRunInput, token: TokenSource) -> RunWorkerHandle:
        """Start the container of one run attempt, or adopt it whatever its state: an attempt never runs twice."""
        name = run_worker_name(request.run_id, request.attempt)
        cname = containers.container_name(self.agent, name)
        existing = await self._inspect(cname)
        if existing is None:
            await self._refuse_if_stopped(name)
            image = _image_of(request.location)
            await self._engine(ensure_image, self._docker(), image, request.location.image_pull_policy)
            try:
                args = containers.worker_args(request, name, await token(), self.settings)
            except ValueError as err:
                raise LaunchError(str(err)) from err
            existing = await self._create(cname, args)
            try:
                # A stop that raced with this launch left its marker after the check above: honour it.
                await self._refuse_if_stopped(name)
            except LaunchError:
                await self._engine(self._remove, cname)
                raise
        if existing.status == "created":
            await self._refuse_if_stopped(name)
            existing = await self._start(cname)
        return RunWorkerHandle.of(
            self.kind,
            request.run_id,
            request.attempt,
            ref={"container": existing.id[:12]},
            launched_at=existing.created,
        )

    async def worker_state(self, handle: RunWorkerHandle) -> ProcessView:
        """Observe a run worker from the cache: PENDING until its job has started, then RUNNING."""
        await self.watcher.wait_synced(SYNC_WAIT_S)
        return _worker_view(self.watcher.get(containers.container_name(self.agent, handle.name)))

    async def wait_worker(self, handle: RunWorkerHandle, phases: frozenset[Phase], timeout_s: float) -> ProcessView:
        """Wait until the worker's phase is one of `phases`, woken by the event stream and the start probe."""
        await self.watcher.wait_synced(SYNC_WAIT_S)
        cname = containers.container_name(self.agent, handle.name)
        state = await self.watcher.wait_for(cname, lambda s: _worker_view(s).phase in phases, timeout_s)
        return _worker_view(state)

    async def stop_worker(self, run_id: str, attempt: int, grace_s: float) -> StopResult:
        """Stop one attempt's container (SIGTERM, grace, SIGKILL); a later launch of that attempt is refused.

        The container stays (exit status and logs readable) until the retention period has passed.
        """
        name = run_worker_name(run_id, attempt)
        cname = containers.container_name(self.agent, name)
        await self._engine(self._mark_stopped, name, run_id, attempt)
        existing = await self._inspect(cname)
        if existing is None:
            return StopResult(stopped=False, detail="never started")
        if existing.status == "created":
            await self._engine(self._remove, cname)
            return StopResult(stopped=True, detail="removed before it started")
        return await self._stop(cname, grace_s)

    async def log_tail(self, name: str, max_bytes: int = 4000) -> str:
        """The end of a server's or worker's container log (stdout and stderr)."""
        cname = containers.container_name(self.agent, name)
        try:
            raw = await self._engine(self._docker().api.logs, cname, stdout=True, stderr=True, tail=400)
        except (docker.errors.NotFound, LaunchError):
            return ""
        text = bytes(raw)[-max_bytes:].decode("utf-8", "replace")
        if len(raw) > max_bytes and "\n" in text:
            text = text.split("\n", 1)[1]
        return text

    # ---- engine calls -----------------------------------------------------------------------

    def _new_client(self) -> docker.DockerClient:
        """A client of the engine; `version='auto'` asks the engine which API version to speak."""
        timeout = int(self.settings.api_timeout_s)
        if self.settings.docker_host:
            return docker.DockerClient(
                base_url=self.settings.docker_host, version="auto", timeout=timeout, max_pool_size=32
            )
        return docker.from_env(version="auto", timeout=timeout, max_pool_size=32)

    def _docker(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._new_client()
                except docker.errors.DockerException as err:
                    raise LaunchError(f"docker engine unreachable: {err}", final=False) from err
            return self._client

    async def _engine(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine call in a thread; an engine that does not answer is a retryable failure."""
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise LaunchError(f"docker engine unreachable: {err}", final=False) from err

    async def _inspect(self, cname: str) -> ContainerState | None:
        """Ask the engine itself (not the cache): launches and stops must not act on a stale view."""
        client = await self._engine(self._docker)
        return await self._engine(self.watcher.refresh, client, cname, cname)

    async def _create(self, cname: str, args: dict[str, Any]) -> ContainerState:
        client = self._docker()
        try:
            await self._engine(client.containers.create, **args)
        except docker.errors.ImageNotFound as err:
            raise LaunchError(f"image '{args['image']}' disappeared from the engine: {err.explanation}") from err
        except docker.errors.APIError as err:
            if err.status_code == 409:  # a concurrent launch created it first: adopt that one
                log.info("container %s already exists: adopting it", cname)
            elif err.status_code is not None and err.status_code < 500:
                raise LaunchError(f"the engine refused container {cname}: {_explain(err)}") from err
            else:
                raise LaunchError(f"creating container {cname} failed: {_explain(err)}", final=False) from err
        state = await self._inspect(cname)
        if state is None:
            raise LaunchError(f"container {cname} vanished right after it was created", final=False)
        return state

    async def _start(self, cname: str) -> ContainerState:
        client = self._docker()
        try:
            await self._engine(client.api.start, cname)
        except docker.errors.APIError as err:
            # Bad command, missing mount source, port taken: the container cannot start as specified.
            message = f"container {cname} failed to start: {_explain(err)}"
            await self._engine(self._remove, cname)
            raise LaunchError(message, final=err.status_code is not None and err.status_code < 500) from err
        state = await self._inspect(cname)
        if state is None:
            raise LaunchError(f"container {cname} vanished right after it started", final=False)
        return state

    async def _stop(self, cname: str, grace_s: float) -> StopResult:
        existing = await self._inspect(cname)
        if existing is None:
            return StopResult(stopped=True, detail="already gone")
        if existing.ended:
            # How it ended by itself matters to the workflow (a run that finished before its cancel arrived).
            view = _exit_view(existing, started=existing.job_started)
            return StopResult(stopped=True, detail="already exited", exit_code=view.exit_code, signal=view.signal)
        # The engine sends the stop signal (SIGTERM), waits `t` seconds, then SIGKILL; `t` is whole seconds.
        client = self._docker()
        try:
            await self._engine(client.api.stop, cname, timeout=math.ceil(grace_s))
        except docker.errors.NotFound:
            return StopResult(stopped=True, detail="already gone")
        after = await self._inspect(cname)
        killed = after is not None and after.exit_code == SIGNAL_EXIT_BASE + 9 and not after.oom_killed
        detail = f"killed after a grace period of {grace_s:g} s" if killed else "stopped by SIGTERM"
        if after is None or not after.ended:
            return StopResult(stopped=True, detail=detail)
        # How it ended tells a job that finished as the stop arrived (exit 0: its outcome stands) from one the
        # stop ended (128 + SIGTERM from the run executor, or a signal).
        view = _exit_view(after, started=after.job_started)
        return StopResult(stopped=True, detail=detail, exit_code=view.exit_code, signal=view.signal)

    def _remove(self, cname: str) -> None:
        try:
            self._docker().api.remove_container(cname, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: a removal is already in progress (the cleanup, or an operator)
                raise
        self.watcher.forget(cname)

    def _mark_stopped(self, name: str, run_id: str, attempt: int) -> None:
        labels = containers.marker_labels(self.agent, name, run_id, attempt)
        try:
            self._docker().api.create_volume(containers.marker_name(self.agent, name), labels=labels)
        except docker.errors.APIError as err:
            if err.status_code != 409:
                raise

    async def _refuse_if_stopped(self, name: str) -> None:
        try:
            await self._engine(self._docker().api.inspect_volume, containers.marker_name(self.agent, name))
        except docker.errors.NotFound:
            return
        raise LaunchError(f"run worker {name} was stopped before it started: not launching it")

    def _server_url(self, spec: LocationSpec, state: ContainerState) -> str:
        port = int(state.labels.get(containers.LABEL_PORT, spec.port))
        if containers.network_of(spec, self.settings) == "host":
            return f"http://{self.settings.publish_host}:{port}"
        if self.settings.server_access == "container-name":
            return f"http://{state.name}:{port}"
        published = state.ports.get(f"{port}/tcp")
        if published is None and state.ended:
            # It died at once (e.g. its command does not exist): no port, and await_healthy reports the exit.
            return f"http://{self.settings.publish_host}:0"
        if published is None:
            raise LaunchError(f"container {state.name} has no published port for {port}/tcp", final=False)
        return f"http://{self.settings.publish_host}:{published}"


_ENDED = frozenset({Phase.EXITED, Phase.LOST})


def _image_of(spec: LocationSpec) -> str:
    if not spec.image:
        raise LaunchError(f"location '{spec.name}' has no image: the docker launcher runs containers from an image")
    return spec.image


def _exit_view(state: ContainerState, started: bool) -> ProcessView:
    code = state.exit_code
    signal: int | None = None
    if code is not None and SIGNAL_EXIT_BASE < code <= SIGNAL_EXIT_BASE + MAX_SIGNAL and not state.oom_killed:
        # Docker reports "killed by signal N" as exit code 128 + N; name the signal as the process launcher does.
        signal, code = code - SIGNAL_EXIT_BASE, None
    return ProcessView(
        phase=Phase.EXITED,
        exit_code=code,
        signal=signal,
        oom_killed=state.oom_killed,
        started=started,
        message=state.termination or state.error,
    )


def _server_view(state: ContainerState | None) -> ProcessView:
    if state is None:
        return ProcessView(phase=Phase.LOST, message="the container no longer exists (removed outside the agent?)")
    if state.ended:
        return _exit_view(state, started=True)
    if state.status == "created":
        return ProcessView(phase=Phase.PENDING)
    return ProcessView(phase=Phase.RUNNING, started=True)


def _worker_view(state: ContainerState | None) -> ProcessView:
    if state is None:
        return ProcessView(phase=Phase.LOST, message="the container no longer exists (removed outside the agent?)")
    if state.ended:
        return _exit_view(state, started=state.job_started)
    if state.status == "running" and state.job_started:
        return ProcessView(phase=Phase.RUNNING, started=True)
    return ProcessView(phase=Phase.PENDING)


def _explain(err: docker.errors.APIError) -> str:
    return " ".join(str(err.explanation or err).split())[:500]


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
