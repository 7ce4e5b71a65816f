"""Launching a run and waiting for it to end: one path for users' requests and automations' ticks alike."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.concurrency import run_in_threadpool

from contracts.api import LaunchRunResponse, RunView
from contracts.runs import RunRequest
from controlplane.errors import Unavailable
from controlplane.services import Services


async def launch_run(services: Services, request: RunRequest, parent_run_id: str | None = None) -> LaunchRunResponse:
    """Store the run and start its workflow, or answer with the run an earlier request with the same idempotency
    key made; if Temporal cannot start it, nothing stays stored (Unavailable).

    A run under a limit waits in the run queue instead, until every limit it falls under has room: its `message`
    says why it waits, and the dispatcher (failing that, the run monitor) starts it."""
    launch = await run_in_threadpool(services.runs.launch, request, parent_run_id)
    if not launch.created or launch.location is None:
        return LaunchRunResponse(run=launch.run, created=False)
    if launch.queued:
        await services.dispatcher.dequeue()
        return LaunchRunResponse(run=await run_in_threadpool(services.runs.get, launch.run.id), created=True)
    try:
        await services.temporal.start_run(launch.run.id, launch.request or request, launch.location)
    except Exception as err:
        await run_in_threadpool(services.runs.discard, launch.run.id)
        if isinstance(err, Unavailable):
            raise Unavailable(f"the run was not launched: {err.message}") from err
        raise
    return LaunchRunResponse(run=launch.run, created=True)


async def wait_until_final(services: Services, run_id: str, timeout_s: float) -> RunView:
    """The run as soon as it has finished, or as it is after `timeout_s` (then its status is not final)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Woken by final reports this replica stores, and on PostgreSQL by those of every replica
    # (controlplane/run_notices.py); the periodic re-read covers the rest (SQLite shared by replicas).
    recheck_s = services.settings.run_wait_recheck_s
    # Registered before the first read: a final report arriving in between still wakes us.
    with services.waiters.waiting(run_id) as finished:
        while True:
            run = await run_in_threadpool(services.runs.get, run_id)
            remaining = deadline - loop.time()
            if run.status.is_terminal or remaining <= 0:
                return run
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), min(remaining, recheck_s))
            finished.clear()  # before the next read: a report after it sets the event again
