"""Housekeeping of the docker launcher: finished run containers after the retention period, and orphans.

Run containers are kept after they end (their exit status, OOM flag and logs stay readable) and removed once
they have been finished for `retention_s`. An orphan is a container whose location or run is gone — its
workflow was terminated, or the location removed while the agent was down. How the cleanup learns that:

- labels say what each container is (location + generation + instance, or run id + attempt), and the
  watcher's cache already holds every container of this agent: no extra list call;
- the rule of activities/launchers/orphans.py (`is_orphan`, every launcher's) with the agent's owner check
  (`TemporalOwners`), which asks Temporal where the workflows live. Anything the check cannot answer
  (Temporal down) is left alone until the next sweep.

Containers younger than `orphan_grace_s` are never orphans: their workflow may not be visible yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import docker
import docker.errors

from activities.launchers.docker.containers import (
    LABEL_ATTEMPT,
    LABEL_INSTANCE,
    LABEL_LOCATION,
    LABEL_NAME,
    LABEL_RUN_ID,
    SERVER,
    STOP_MARKER,
    WORKER,
    agent_filters,
)
from activities.launchers.docker.settings import DockerLauncherSettings
from activities.launchers.docker.watcher import ContainerState, ContainerWatcher, parse_time
from activities.launchers.orphans import Managed, OwnerCheck, is_orphan

log = logging.getLogger("longshoreman.docker.cleanup")


@dataclass
class SweepReport:
    """What one sweep removed."""

    finished: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)


def managed_item(state: ContainerState) -> Managed | None:
    """The code server or run worker a container is (None for other kinds, e.g. a stop marker)."""
    if state.kind not in (SERVER, WORKER):
        return None
    labels = state.labels
    return Managed(
        kind="worker" if state.kind == WORKER else "server",
        name=labels.get(LABEL_NAME, ""),
        created=state.created,
        location=labels.get(LABEL_LOCATION, ""),
        instance=int(labels.get(LABEL_INSTANCE, "0") or 0),
        run_id=labels.get(LABEL_RUN_ID, ""),
        attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0),
    )


class Cleanup:
    """Periodic sweeps on a thread of their own (with its own event loop for the owner check)."""

    def __init__(
        self,
        connect: Callable[[], docker.DockerClient],
        watcher: ContainerWatcher,
        settings: DockerLauncherSettings,
        owners: OwnerCheck | None,
    ) -> None:
        self._connect = connect
        self._watcher = watcher
        self._settings = settings
        self._owners = owners
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: docker.DockerClient | None = None

    def start(self) -> None:
        """Sweep every `cleanup_interval_s` until closed."""
        self._thread = threading.Thread(target=self._run, name="docker-cleanup", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop sweeping."""
        self._closed.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except RuntimeError:
            pass  # the interpreter is shutting down under this daemon thread

    async def _loop(self) -> None:
        while await self._pause(self._settings.cleanup_interval_s):
            if not self._watcher.synced:
                continue
            try:
                report = await self.sweep()
            except RuntimeError:
                return  # no more threads at interpreter shutdown
            except Exception as err:
                log.warning("docker cleanup sweep failed: %s", err)
                self._client = None  # reconnect next time (the engine may have restarted)
                continue
            for what, names in (("finished", report.finished), ("orphaned", report.orphans)):
                if names:
                    log.info("removed %d %s container(s): %s", len(names), what, ", ".join(names))

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds` on this loop; False once closed (checked twice a second)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closed.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            await asyncio.sleep(min(0.5, remaining))
        return False

    async def sweep(self) -> SweepReport:
        """Remove finished run containers past retention, orphans, and old stop markers."""
        if self._client is None:
            self._client = await asyncio.to_thread(self._connect)
        client = self._client
        now = datetime.now(UTC)
        report = SweepReport()
        retention = timedelta(seconds=self._settings.retention_s)
        grace = timedelta(seconds=self._settings.orphan_grace_s)
        for state in self._watcher.states():
            if state.kind == WORKER and state.ended:
                if (state.finished_at or state.created) + retention <= now:
                    await self._remove(client, state, report.finished)
            elif state.created + grace <= now and await self._orphaned(state):
                await self._remove(client, state, report.orphans)
        await self._sweep_markers(client, now, retention, report)
        return report

    async def _orphaned(self, state: ContainerState) -> bool:
        item = managed_item(state)
        return self._owners is not None and item is not None and await is_orphan(item, self._owners)

    async def _remove(self, client: docker.DockerClient, state: ContainerState, removed: list[str]) -> None:
        try:
            # force: an orphan may still run; its workflow is gone, nobody will stop it otherwise.
            await asyncio.to_thread(client.api.remove_container, state.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            log.warning("removing %s failed: %s", state.name, err)
            return
        self._watcher.forget(state.name)
        removed.append(state.name)

    async def _sweep_markers(
        self, client: docker.DockerClient, now: datetime, retention: timedelta, report: SweepReport
    ) -> None:
        listing = await asyncio.to_thread(
            client.api.volumes, filters=agent_filters(str(self._settings.agent_name), STOP_MARKER)
        )
        live = {state.labels.get(LABEL_NAME) for state in self._watcher.states()}
        for volume in (listing or {}).get("Volumes") or []:
            created = parse_time(volume.get("CreatedAt")) or now
            handle = (volume.get("Labels") or {}).get(LABEL_NAME)
            if created + retention <= now and handle not in live:
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    await asyncio.to_thread(client.api.remove_volume, volume["Name"])
                    report.markers.append(str(volume["Name"]))
