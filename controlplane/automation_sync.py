"""Keeps Temporal holding what the automation rows say: one Schedule per schedule, one workflow per sensor.

Event-driven — right after an agent reports a location (its definitions, or that it is going away), after a
start or stop — and every few seconds for whatever is still pending (Temporal was down, another replica changed
a row), with a full check of every automation every FULL_SYNC_EVERY_S (a Schedule deleted or a sensor workflow
terminated by hand comes back). Each step is idempotent, so replicas may both sync.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.service import RPCError

from contracts.automations import AutomationKind
from controlplane.automation_store import AutomationStore, Desired
from controlplane.errors import ControlPlaneError, Invalid
from controlplane.temporal_automations import TemporalAutomations

log = logging.getLogger(__name__)
FULL_SYNC_EVERY_S = 600.0


class AutomationSync:
    """Applies pending automation rows to Temporal."""

    def __init__(self, store: AutomationStore, temporal: TemporalAutomations) -> None:
        self._store = store
        self._temporal = temporal
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def kick(self, location: str) -> None:
        """Sync one location's automations soon, without waiting (a report's answer must not wait on it)."""
        task = asyncio.get_running_loop().create_task(self._kicked(location))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _kicked(self, location: str) -> None:
        try:
            await self.sync(location)
        except Exception:  # the next run-monitor cycle tries again
            log.exception("automations of %s not synced", location)

    async def sync(self, location: str | None = None, everything: bool = False) -> None:
        """Follow the definitions (of `location`, or of every location with `everything`), then apply every
        pending row to Temporal; rows that fail stay pending for the next cycle."""
        async with self._lock:
            followed = [location] if location is not None else []
            if everything:
                followed = await asyncio.to_thread(self._store.locations)
            for name in followed:
                await asyncio.to_thread(self._store.follow, name)
            for item in await asyncio.to_thread(self._store.pending, location, everything):
                await self._apply(item)

    async def run_forever(self, interval_s: float) -> None:
        """Sync what is pending every `interval_s`, and everything every FULL_SYNC_EVERY_S, until canceled."""
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        while True:
            everything = loop.time() >= next_full
            try:
                await self.sync(everything=everything)
                if everything:
                    next_full = loop.time() + FULL_SYNC_EVERY_S
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("automation sync failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        """Stop the syncs under way (the next start picks up what they left pending)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _apply(self, item: Desired) -> None:
        broken = bool(item.definition.get("error"))
        target = Desired(**{**item.__dict__, "removed": item.removed or broken}) if broken else item
        try:
            if item.kind is AutomationKind.SCHEDULE:
                await self._temporal.apply_schedule(target)
            else:
                await self._temporal.apply_sensor(target)
        except Invalid as err:
            await asyncio.to_thread(self._store.synced, item, err.message)
            return
        except (ControlPlaneError, RPCError) as err:
            log.info("automation %s/%s not synced with Temporal yet: %s", item.location, item.name, err)
            return
        await asyncio.to_thread(self._store.synced, item)
