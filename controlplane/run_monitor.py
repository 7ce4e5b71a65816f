"""Keeps the stored runs true to Temporal, where their workflows live.

- A run is final once its workflow is closed. A workflow terminated with the Temporal CLI or UI (a Temporal
  team's daily habit), or timed out, never sends its final report: its run is ended here with the status and
  reason the close implies ("workflow terminated: <reason>"). Closed workflows are found with one visibility
  query per cycle (closed since the last cycle, with an overlap for visibility's lag), plus one sweep of every
  live run at start and every few minutes, which covers a control plane that was down meanwhile.
- A run or location says when no live agent serves its queue (controlplane/queue_liveness.py): a queued run
  "waiting for an agent: no agent is polling task queue 'X'", a started one "no live agent on task queue 'X':
  supervision resumes when one is back", a location "no live agent on task queue 'X'".
- A queued run past its `queued_timeout_s` ends: its workflow is terminated and the run fails, saying why (a run
  still waiting in the run queue has no workflow: it just fails).
- The run queue is looked at every cycle (controlplane/dispatcher.py): runs that may leave it do (dequeues are
  event-driven; this catches a replica that restarted or a pass that failed), and workflow starts that failed
  are retried. A run out of the queue whose workflow does not exist (its process died before starting it) is
  started by the sweep of live runs.

Every change goes through the run store, so the run protocol's transitions decide; replicas may run this
side by side (each change is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from contracts.run_protocol import RunStatus
from controlplane.errors import ControlPlaneError
from controlplane.run_store import LiveRun
from controlplane.services import Services

log = logging.getLogger(__name__)

# Visibility is eventually consistent: each query reaches back this far before the previous one.
VISIBILITY_OVERLAP = timedelta(seconds=10)
FULL_SWEEP_EVERY = timedelta(minutes=5)
# A run younger than this may simply not have been picked up yet: no message, no sweep.
QUEUED_GRACE = timedelta(seconds=2)
PARALLEL_CHECKS = 10


def no_agent_message(queue: str) -> str:
    """The status message of a run whose queue no agent polls."""
    return f"waiting for an agent: no agent is polling task queue '{queue}'"


async def reconcile_run(services: Services, run_id: str) -> bool:
    """End the run if its workflow has closed without saying so; True if that changed the run."""
    closure = await services.temporal.run_closure(run_id)
    if closure is None:
        return False
    if closure.missing and await services.dispatcher.ensure_started(run_id):
        # It left the run queue but its process died before starting the workflow: it starts now.
        log.info("run %s had left the run queue without a workflow; started it", run_id)
        return False
    changed = await asyncio.to_thread(services.runs.close, run_id, closure.status, closure.reason)
    if changed:
        log.info("run %s reconciled from its closed workflow: %s (%s)", run_id, closure.status, closure.reason)
        services.waiters.finished(run_id)
    return changed


class RunMonitor:
    """The control plane's background reconciliation of runs (one asyncio task per app)."""

    def __init__(self, services: Services, interval_s: float) -> None:
        self._services = services
        self._liveness = services.liveness
        self._interval_s = interval_s
        self._since: datetime | None = None
        self._next_full_sweep = datetime.now(UTC)

    async def run_forever(self) -> None:
        """One cycle every `interval_s` until canceled; a cycle that fails (Temporal down) is simply retried."""
        while True:
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except ControlPlaneError as err:
                log.debug("run monitor cycle skipped: %s", err.message)
            except Exception:
                log.exception("run monitor cycle failed")
            await asyncio.sleep(self._interval_s)

    async def cycle(self) -> None:
        """Reconcile closed workflows, then look after queued runs."""
        started = datetime.now(UTC)
        if started >= self._next_full_sweep:
            await self._sweep_live()
            self._next_full_sweep = started + FULL_SWEEP_EVERY
            self._since = self._since or started - VISIBILITY_OVERLAP
        if self._since is not None:
            closed = await self._services.temporal.closed_run_ids(self._since)
            live = await asyncio.to_thread(self._services.runs.live_among, closed)
            await self._reconcile(live)
        self._since = started - VISIBILITY_OVERLAP
        await self._watch_waiting(started)
        await self._services.dispatcher.retry_failed()
        if await asyncio.to_thread(self._services.queue.has_waiting):
            await self._services.dispatcher.dequeue(thorough=True)

    async def _sweep_live(self) -> None:
        live = await asyncio.to_thread(self._services.runs.live_ids, QUEUED_GRACE.total_seconds())
        await self._reconcile(live)

    async def _reconcile(self, run_ids: list[str]) -> None:
        gate = asyncio.Semaphore(PARALLEL_CHECKS)

        async def one(run_id: str) -> None:
            async with gate:
                with contextlib.suppress(ControlPlaneError):
                    await reconcile_run(self._services, run_id)

        await asyncio.gather(*(one(run_id) for run_id in run_ids))

    async def _watch_waiting(self, now: datetime) -> None:
        """Say which runs and locations have no live agent on their queue; end runs past their queued timeout."""
        runs, locations = self._services.runs, self._services.locations
        live_runs = await asyncio.to_thread(runs.live_runs, QUEUED_GRACE.total_seconds())
        notes = await asyncio.to_thread(locations.agent_notes)
        queues = {run.queue for run in live_runs if run.queue} | {queue for queue, _ in notes.values()}
        # The agents' own queues too: the agent list marks an agent Temporal sees no poller of.
        queues |= await asyncio.to_thread(self._services.agents.live_queues)
        live = await self._liveness.live(queues) if queues else {}
        for run in live_runs:
            timeout_s = run.queued_timeout_s
            if run.status is RunStatus.QUEUED and timeout_s is not None:
                if run.created_at + timedelta(seconds=timeout_s) <= now:
                    await self._time_out(run, timeout_s, live.get(run.queue or "", True))
                    continue
            if run.waiting:
                continue  # the run queue says what it waits for
            message = "" if run.queue is None or live.get(run.queue, True) else _no_agent(run.status, run.queue)
            if message != run.message:
                await asyncio.to_thread(runs.set_waiting_message, run.id, message)
        for name, (queue, note) in notes.items():
            wanted = "" if live.get(queue, True) else f"no live agent on task queue '{queue}'"
            if wanted != note:
                await asyncio.to_thread(locations.set_agent_note, name, wanted)

    async def _time_out(self, run: LiveRun, timeout_s: float, queue_live: bool) -> None:
        run_id, queue, temporal = run.id, run.queue, self._services.temporal
        why = f"queued timeout: the run did not start within {timeout_s:g} s"
        if run.waiting:
            waited_for = (await asyncio.to_thread(self._services.runs.get, run_id)).message
            why += f" ({waited_for})" if waited_for else ""
            if await asyncio.to_thread(self._services.queue.end_waiting, run_id, RunStatus.FAILURE, why):
                self._services.waiters.finished(run_id)
                log.info("run %s: %s", run_id, why)
            return  # else it left the queue meanwhile: its workflow is handled next cycle
        if queue is not None and not queue_live:
            why += f" (no agent is polling task queue '{queue}')"
        # The workflow first: an agent must not start the run once it is stored as failed (one that left the
        # queue but has no workflow yet gets one first, so a late start cannot bring it back).
        if not await temporal.terminate_run(run_id, why) and await self._services.dispatcher.ensure_started(run_id):
            await temporal.terminate_run(run_id, why)
        if await asyncio.to_thread(self._services.runs.close, run_id, RunStatus.FAILURE, why):
            self._services.waiters.finished(run_id)
            log.info("run %s: %s", run_id, why)


def _no_agent(status: RunStatus, queue: str) -> str:
    if status is RunStatus.QUEUED:
        return no_agent_message(queue)
    return f"no live agent on task queue '{queue}': supervision resumes when one is back"
