"""One watcher per docker launcher: the engine's event stream feeds an in-memory cache of this agent's containers.

State calls (every 0.1-0.25 s per supervised container) read the cache and never call the engine. The cache is
built from one list call when the stream (re)connects — that is also how an agent that restarted finds its
containers again — and each container event (create, start, die, oom, destroy) triggers one inspect of that
container, so what is cached is always the engine's own answer, whatever order events arrive in. Besides the
stream, a probe thread checks the run containers that run but whose job has not started yet (one HEAD request
each, for the executor's started file) and re-lists everything now and then as a safety net.

Async waiters (`wait_for`) are woken by the thread that stores a change: no polling in the activities either.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import docker
import docker.errors

from activities.launchers.docker.containers import (
    LABEL_KIND,
    STARTED_FILE,
    TERMINATION_FILE,
    WORKER,
    agent_filters,
)

log = logging.getLogger("longshoreman.docker.watcher")
EVENTS = ["create", "start", "die", "oom", "destroy"]
ENDED = frozenset({"exited", "dead", "removing"})
GONE_MEMORY_S = 300.0  # how long a removed container is remembered (so a late, older answer cannot revive it)


class DockerUnavailable(Exception):
    """The engine has not answered yet: state is unknown (a retryable activity failure, never a final one)."""


@dataclass(frozen=True)
class ContainerState:
    """What the engine last said about one container, plus what the run executor's files said."""

    id: str
    name: str
    labels: dict[str, str]
    status: str  # created | running | paused | restarting | removing | exited | dead
    exit_code: int | None
    oom_killed: bool
    error: str
    created: datetime
    started_at: datetime | None
    finished_at: datetime | None
    ports: dict[str, int] = field(default_factory=dict)
    job_started: bool = False
    termination: str = ""
    details_read: bool = False  # the started and termination files were read after the container ended

    @property
    def kind(self) -> str:
        """server, worker (or whatever the kind label says)."""
        return self.labels.get(LABEL_KIND, "")

    @property
    def ended(self) -> bool:
        """The container's process has exited."""
        return self.status in ENDED


def parse_time(value: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds are cut to micro), or None for Go's zero time."""
    if not value or value.startswith("0001-"):
        return None
    return datetime.fromisoformat(value)


def parse_inspect(data: dict[str, Any]) -> ContainerState:
    """A ContainerState from `docker inspect` output."""
    state = data.get("State") or {}
    ports: dict[str, int] = {}
    for port, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for binding in bindings or []:
            if binding.get("HostPort"):
                ports[port] = int(binding["HostPort"])
                break
    status = str(state.get("Status", ""))
    return ContainerState(
        id=str(data["Id"]),
        name=str(data["Name"]).lstrip("/"),
        labels=dict((data.get("Config") or {}).get("Labels") or {}),
        status=status,
        exit_code=int(state["ExitCode"]) if status in ENDED and state.get("ExitCode") is not None else None,
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or ""),
        created=parse_time(str(data.get("Created"))) or datetime.now().astimezone(),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        ports=ports,
    )


@dataclass
class _Entry:
    asked_at: float  # monotonic time the answer was asked for: an older answer never replaces a newer one
    state: ContainerState | None  # None: the container is gone


class ContainerWatcher:
    """The cache of one agent's containers, kept current by the engine's event stream."""

    def __init__(
        self,
        connect: Callable[[], docker.DockerClient],
        agent: str,
        probe_interval_s: float = 0.1,
        resync_interval_s: float = 30.0,
    ) -> None:
        self._connect = connect
        self._agent = agent
        self._probe_interval_s = probe_interval_s
        self._resync_interval_s = resync_interval_s
        self._entries: dict[str, _Entry] = {}
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._closed = threading.Event()
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        self.refreshes = 0  # inspect calls made, for benchmarks and tests

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the event and probe threads (daemons: they never keep the agent alive)."""
        for target, name in ((self._run_events, "docker-events"), (self._run_probes, "docker-probes")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop the threads."""
        self._closed.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    @property
    def synced(self) -> bool:
        """True once the cache holds everything the engine had when the stream connected."""
        return self._synced.is_set()

    async def wait_synced(self, timeout_s: float) -> None:
        """Return once synced; DockerUnavailable after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Polled on the loop, not waited for in a thread: many supervisions waiting at once must not take
        # every worker thread from the launches (this only happens before the first sync).
        while not self._synced.is_set():
            if loop.time() >= deadline:
                raise DockerUnavailable(f"the docker engine has not answered for {timeout_s:g} s; retrying")
            await asyncio.sleep(0.05)

    # ---- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> ContainerState | None:
        """The cached state of a container by name (None: no such container)."""
        entry = self._entries.get(name)
        return entry.state if entry is not None else None

    def states(self) -> list[ContainerState]:
        """Every cached container."""
        with self._lock:
            return [entry.state for entry in self._entries.values() if entry.state is not None]

    async def wait_for(
        self, name: str, done: Callable[[ContainerState | None], bool], timeout_s: float
    ) -> ContainerState | None:
        """The container's state once `done(state)` holds, or its state after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            # Registered before reading, so a change between the read and the wait still wakes us.
            future: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._waiters.setdefault(name, []).append((loop, future))
            try:
                state = self.get(name)
                remaining = deadline - loop.time()
                if done(state) or remaining <= 0:
                    return state
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, remaining)
            finally:
                with self._lock:
                    waiters = self._waiters.get(name, [])
                    if (loop, future) in waiters:
                        waiters.remove((loop, future))
                    if not waiters:
                        self._waiters.pop(name, None)

    # ---- writing (any thread) ---------------------------------------------------------------

    def refresh(self, client: docker.DockerClient, ref: str, name: str | None = None) -> ContainerState | None:
        """Inspect a container now (blocking), store and return what the engine says (None: it is gone)."""
        asked = time.monotonic()
        self.refreshes += 1
        try:
            state = parse_inspect(client.api.inspect_container(ref))
        except docker.errors.NotFound:
            gone = name or self._name_of(ref)
            if gone is not None:
                self._store(gone, asked, None)
            return None
        if state.kind == WORKER:
            state = self._read_files(client, state)
        return self._store(state.name, asked, state)

    def forget(self, name: str) -> None:
        """Mark a container removed (after the launcher removed it)."""
        self._store(name, time.monotonic(), None)

    def _store(self, name: str, asked: float, state: ContainerState | None) -> ContainerState | None:
        with self._lock:
            current = self._entries.get(name)
            if current is not None and current.asked_at > asked:
                return current.state  # a newer answer is already here
            old = current.state if current is not None else None
            if state is not None and old is not None and old.id == state.id:
                # What the files said stays true for the same container even if this answer did not read them.
                if old.job_started and not state.job_started:
                    state = replace(state, job_started=True)
                if old.details_read and not state.details_read:
                    state = replace(state, termination=old.termination, details_read=True)
            self._entries[name] = _Entry(asked, state)
            waiters = self._waiters.pop(name, [])
        self._wake_all(waiters)
        return state

    @staticmethod
    def _wake_all(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_wake, future)

    def _name_of(self, container_id: str) -> str | None:
        with self._lock:
            for name, entry in self._entries.items():
                if entry.state is not None and entry.state.id.startswith(container_id):
                    return name
        return None

    def _read_files(self, client: docker.DockerClient, state: ContainerState) -> ContainerState:
        """Add what the run executor's files say: has the job started, and (after a failure) why it failed."""
        old = self.get(state.name)
        same = old is not None and old.id == state.id
        if same and old is not None and old.details_read:
            return state
        started = (same and old is not None and old.job_started) or (
            state.status != "created" and _exists(client, state.id, STARTED_FILE)
        )
        state = replace(state, job_started=started)
        if state.ended:
            termination = _read_text(client, state.id, TERMINATION_FILE) if state.exit_code != 0 else ""
            state = replace(state, termination=termination, details_read=True)
        return state

    # ---- threads ----------------------------------------------------------------------------

    def _run_events(self) -> None:
        backoff = 0.5
        while not self._closed.is_set():
            try:
                client = self._connect()
                filters = {"type": ["container"], "event": EVENTS, **agent_filters(self._agent)}
                self._stream = client.api.events(decode=True, filters=filters)
                # Listed after the stream is open: nothing that happens in between is missed.
                self._resync(client)
                self._synced.set()
                backoff = 0.5
                for event in self._stream:
                    self._on_event(client, event)
                if not self._closed.is_set():
                    log.warning("docker event stream ended; reconnecting")
            except Exception as err:
                if self._closed.is_set():
                    return
                log.warning("docker event stream failed (%s); reconnecting in %.1f s", err, backoff)
            self._closed.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def _on_event(self, client: docker.DockerClient, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        name = (actor.get("Attributes") or {}).get("name")
        action = str(event.get("Action") or event.get("status") or "")
        if action == "destroy":
            if name:
                self._store(name, time.monotonic(), None)
            return
        try:
            self.refresh(client, str(actor.get("ID") or event.get("id")), name)
        except docker.errors.DockerException as err:
            log.warning("inspecting %s after '%s' failed: %s (the next resync catches up)", name, action, err)

    def _run_probes(self) -> None:
        client: docker.DockerClient | None = None
        last_resync = time.monotonic()
        while not self._closed.wait(self._probe_interval_s):
            if not self._synced.is_set():
                continue
            try:
                client = client or self._connect()
                self._probe_started(client)
                if time.monotonic() - last_resync >= self._resync_interval_s:
                    last_resync = time.monotonic()
                    self._resync(client)
            except Exception as err:
                log.warning("docker probe failed: %s", err)
                client = None

    def _probe_started(self, client: docker.DockerClient) -> None:
        """One HEAD request per run container that runs but whose job has not started yet."""
        for state in self.states():
            if state.kind != WORKER or state.status != "running" or state.job_started:
                continue
            if _exists(client, state.id, STARTED_FILE):
                self._mark_started(state.name, state.id)

    def _mark_started(self, name: str, container_id: str) -> None:
        """Flag the job started on whatever is cached now (it may have ended meanwhile: keep that, add the flag)."""
        with self._lock:
            current = self._entries.get(name)
            if current is None or current.state is None or current.state.id != container_id:
                return
            if current.state.job_started:
                return
            self._entries[name] = _Entry(current.asked_at, replace(current.state, job_started=True))
            waiters = self._waiters.pop(name, [])
        self._wake_all(waiters)

    def _resync(self, client: docker.DockerClient) -> None:
        """Re-list this agent's containers: inspect what changed, drop what is gone."""
        asked = time.monotonic()
        listed = client.api.containers(all=True, filters=agent_filters(self._agent))
        seen: set[str] = set()
        for summary in listed:
            name = str((summary.get("Names") or ["/"])[0]).lstrip("/")
            seen.add(name)
            cached = self.get(name)
            if cached is None or cached.id != summary.get("Id") or cached.status != summary.get("State"):
                with contextlib.suppress(docker.errors.DockerException):
                    self.refresh(client, str(summary["Id"]), name)
        now = time.monotonic()
        with self._lock:
            entries = list(self._entries.items())
        for name, entry in entries:
            if entry.state is not None and name not in seen and entry.asked_at < asked:
                self._store(name, asked, None)
            elif entry.state is None and now - entry.asked_at > GONE_MEMORY_S:
                with self._lock:
                    if self._entries.get(name) is entry:
                        del self._entries[name]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _exists(client: docker.DockerClient, container_id: str, path: str) -> bool:
    """Does `path` exist in the container (running or not)? One HEAD request, no archive is made."""
    api = client.api
    # docker-py has no public call for HEAD /containers/{id}/archive (the cheap stat); APIClient is a requests
    # session, so ask directly. ~1 ms, against ~50 ms for get_archive, which builds a tar.
    response = api.head(api._url("/containers/{0}/archive", container_id), params={"path": path})
    return bool(response.status_code == 200)


def _read_text(client: docker.DockerClient, container_id: str, path: str, limit: int = 4000) -> str:
    """A small text file from the container (running or not); '' if it does not exist."""
    try:
        chunks, _ = client.api.get_archive(container_id, path)
        data = b"".join(chunks)
    except docker.errors.NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            if handle is not None:
                return handle.read(limit).decode("utf-8", "replace").strip()
    return ""
