"""Orphans: code servers and run workers whose workflow is gone, found and stopped by the agent.

A workflow terminated from outside (the Temporal CLI or UI), timed out, or a location removed while no agent
ran, leaves what its launcher started running with nobody to stop it. Every launcher can list what it
manages (`Sweepable.managed()`); the owner check asks Temporal, where the workflows live:

- a run worker belongs to a run while the run's workflow `run:<id>` is running;
- a code server belongs to its location while `location:<name>` is running and it is the serving instance
  or one launched since (a restart or a redeploy under way); an older instance was left behind by a failed
  stop.

Whatever the check cannot answer (Temporal down) is left alone until the next sweep, and nothing younger
than the grace period is touched (its workflow may not be visible yet). The docker launcher applies the same
rule (`is_orphan`) from its own cleanup thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

log = logging.getLogger("longshoreman.orphans")


@dataclass(frozen=True)
class Managed:
    """One code server or run worker a launcher started (and that has not ended)."""

    kind: Literal["server", "worker"]
    name: str  # the handle name (contracts/handles.py)
    created: datetime
    location: str = ""
    instance: int = 0
    run_id: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class LocationOwner:
    """What the owner of a location's code servers says: does it exist, and which instances are current."""

    exists: bool
    server: str | None = None  # handle name of the serving instance
    latest_instance: int = 0  # the instance launched last (it may still be starting)


class OwnerCheck(Protocol):
    """Answers whether the owner of a server or worker still exists; None when it cannot tell right now."""

    async def location(self, name: str) -> LocationOwner | None:
        """The location's current instances, or exists=False if it is gone."""
        ...

    async def run_exists(self, run_id: str) -> bool | None:
        """True while the run is not finished."""
        ...

    async def running_runs(self, run_ids: list[str]) -> set[str] | None:
        """Those of `run_ids` seen running in one cheap batch (may lag: a miss is confirmed by run_exists)."""
        ...


@runtime_checkable
class Inventoried(Protocol):
    """A launcher that can list what it runs (the agent's heartbeat counts it)."""

    async def managed(self) -> list[Managed]:
        """Every live code server and run worker of this agent."""
        ...


@runtime_checkable
class Sweepable(Inventoried, Protocol):
    """A launcher that can list what it runs and stop an orphan of it."""

    async def stop_orphan(self, item: Managed, grace_s: float) -> None:
        """Stop (and remove) one orphan."""
        ...


async def is_orphan(item: Managed, owners: OwnerCheck) -> bool:
    """True only if the owner check says the item's workflow no longer wants it."""
    if item.kind == "worker":
        return await owners.run_exists(item.run_id) is False
    owner = await owners.location(item.location)
    if owner is None:
        return False
    if not owner.exists:
        return True
    # The serving instance and any launched since belong to the workflow.
    return item.name != owner.server and item.instance < owner.latest_instance


class OrphanSweeper:
    """Sweeps one launcher every `interval_s` on the agent's event loop."""

    def __init__(
        self, launcher: Sweepable, owners: OwnerCheck, *, interval_s: float, grace_s: float, stop_grace_s: float = 10.0
    ) -> None:
        self._launcher = launcher
        self._owners = owners
        self._interval_s = interval_s
        self._grace = timedelta(seconds=grace_s)
        self._stop_grace_s = stop_grace_s

    async def run_forever(self) -> None:
        """Sweep until canceled; a failed sweep is logged and retried next time."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                stopped = await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("orphan sweep failed: %s", err)
                continue
            if stopped:
                log.info("stopped %d orphan(s) whose workflow is gone: %s", len(stopped), ", ".join(stopped))

    async def sweep(self) -> list[str]:
        """Stop every orphan older than the grace period; the names of those stopped."""
        now = datetime.now(UTC)
        candidates = [item for item in await self._launcher.managed() if item.created + self._grace <= now]
        # One visibility query per few hundred run workers instead of a describe each; misses are confirmed.
        workers = [item.run_id for item in candidates if item.kind == "worker"]
        running = await self._owners.running_runs(workers) if workers else set()
        if running is None:
            return []  # Temporal does not answer: judge nothing
        stopped: list[str] = []
        for item in candidates:
            if (item.kind == "worker" and item.run_id in running) or not await is_orphan(item, self._owners):
                continue
            await self._launcher.stop_orphan(item, self._stop_grace_s)
            stopped.append(item.name)
        return stopped
