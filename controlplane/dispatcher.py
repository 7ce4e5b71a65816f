"""Lets runs out of the run queue the moment there may be room, and starts their workflows.

A dequeue pass (controlplane/run_queue.py) runs, in the process that made room, right after the commit that
freed slots (Database signal SLOTS_FREED), after a launch under a limit, after a change of the limits, and once
per run-monitor cycle (a replica that restarted, a pass that failed). Requests arriving while a pass runs are
served by one more pass after it, never by a polling interval.

A run that left the queue holds its slots until its workflow has been started and the run is final. A start that
fails (Temporal unreachable) is retried every monitor cycle; one lost with its process (killed between the
dequeue and the start) is found by the monitor's sweep of live runs, which starts it (the workflow id makes a
start idempotent: a run never runs twice).
"""

from __future__ import annotations

import asyncio
import logging

from controlplane.errors import ControlPlaneError
from controlplane.run_queue import RunQueue, Start
from controlplane.temporal_gateway import TemporalGateway

log = logging.getLogger(__name__)

# Workflow starts in flight at once (each is one Temporal RPC).
PARALLEL_STARTS = 32


class Dispatcher:
    """One per control-plane process: coalesced dequeue passes, workflow starts and their retries."""

    def __init__(self, queue: RunQueue, temporal: TemporalGateway) -> None:
        self._queue = queue
        self._temporal = temporal
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wanted = False
        self._thorough = False
        self._pass: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._starts: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Semaphore(PARALLEL_STARTS)
        self._failed: set[str] = set()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve kicks on `loop` (the app's event loop)."""
        self._loop = loop

    def kick(self) -> None:
        """Ask for a dequeue pass soon; callable from any thread (a store's commit runs in a worker thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._want)

    async def dequeue(self, thorough: bool = False) -> None:
        """Run a dequeue pass that begins after this call; return once it has taken its slots (the workflow
        starts it asked for go on). `thorough`: look at every waiting run (after a change of the limits)."""
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._thorough = self._thorough or thorough
        self._want()
        await done

    async def ensure_started(self, run_id: str) -> bool:
        """Start the workflow of a run that left the queue, if it is still QUEUED; True if this call started it
        (it did not exist). Before steering a run from here (cancel, queued timeout): it then has a workflow."""
        start = await asyncio.to_thread(self._queue.start_of, run_id)
        if start is None:
            return False
        started = await self._temporal.start_run(start.run_id, start.request, start.location)
        self._failed.discard(run_id)
        return started

    async def retry_failed(self) -> None:
        """Start again the workflows whose start failed; stop at the first failure (Temporal still down)."""
        for run_id in sorted(self._failed):
            try:
                await self.ensure_started(run_id)
            except ControlPlaneError as err:
                log.debug("run %s: workflow start still failing: %s", run_id, err.message)
                return
            self._failed.discard(run_id)

    async def close(self) -> None:
        """Stop passes and starts in flight (a run left dequeued without a workflow is started by the next
        process's sweep)."""
        tasks = [*self._starts, *([self._pass] if self._pass is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _want(self) -> None:
        self._wanted = True
        if self._pass is None or self._pass.done():
            self._pass = asyncio.get_running_loop().create_task(self._passes())

    async def _passes(self) -> None:
        while self._wanted:
            self._wanted = False
            thorough, self._thorough = self._thorough, False
            waiters, self._waiters = self._waiters, []
            try:
                starts = await asyncio.to_thread(self._queue.dequeue, thorough)
            except Exception:
                # The runs stay queued: the monitor's next cycle asks again.
                log.exception("dequeue pass failed")
                starts = []
            for start in starts:
                task = asyncio.get_running_loop().create_task(self._start(start))
                self._starts.add(task)
                task.add_done_callback(self._starts.discard)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _start(self, start: Start) -> None:
        async with self._gate:
            try:
                await self._temporal.start_run(start.run_id, start.request, start.location)
            except ControlPlaneError as err:
                self._failed.add(start.run_id)
                log.warning("run %s left the queue but its workflow did not start (retried): %s", start.run_id, err)
            except Exception:
                self._failed.add(start.run_id)
                log.exception("run %s left the queue but its workflow did not start (retried)", start.run_id)
