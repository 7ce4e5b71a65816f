"""Launching a run and waiting for it to end: one path for users' requests and automations' ticks alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool

from contracts.api import LaunchRunResponse, RunView
from contracts.config_check import ConfigCheckRequest
from contracts.runs import RunRequest
from controlplane.errors import Invalid, Unavailable
from controlplane.services import Services

log = logging.getLogger(__name__)


async def launch_run(
    services: Services, request: RunRequest, parent_run_id: str | None = None, *, ask_code_server: bool = False
) -> LaunchRunResponse:
    """Store the run and start its workflow, or answer with the run an earlier request with the same idempotency
    key made; if Temporal cannot start it, nothing stays stored (Unavailable).

    A run under a limit waits in the run queue instead, until every limit it falls under has room: its `message`
    says why it waits, and the dispatcher (failing that, the run monitor) starts it.

    `ask_code_server` (a user's launch): a job that validates its config has it checked by its code server first
    (see `check_in_code_server`)."""
    if ask_code_server:
        earlier = await check_in_code_server(services, request)
        if earlier is not None:
            return earlier
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


async def check_in_code_server(services: Services, request: RunRequest) -> LaunchRunResponse | None:
    """Invalid with the framework's own messages (Dagster's) if the job's code server refuses the config; the run
    an earlier request with the same idempotency key made (no second check); else None: launch it.

    Only for jobs whose definitions say `validates_config`, after the control plane's own checks passed. Without a
    verdict in `config_check_timeout_s` (no agent, the code server down) the launch goes on: its run worker checks
    the config again and a refusal becomes the run's reason."""
    timeout_s = services.settings.config_check_timeout_s
    prepared = await run_in_threadpool(services.runs.prepare, request)
    if prepared.existing is not None:
        return LaunchRunResponse(run=prepared.existing.run, created=False)
    job, location, resolved = prepared.job, prepared.location, prepared.request
    if job is None or location is None or resolved is None or not job.validates_config or timeout_s <= 0:
        return None
    check = ConfigCheckRequest(
        location=location.name,
        job=job.name,
        config=resolved.config,
        assets=resolved.assets,
        partition=resolved.partition,
    )
    verdict = await services.temporal.check_config(check, location.agent_queue, timeout_s)
    if verdict.valid is False:
        messages = "; ".join(verdict.errors) or "its code server refused it"
        raise Invalid(f"config is not valid for job '{job.name}': {messages}")
    if verdict.valid is None:
        log.warning(
            "launch of %s/%s: config not checked by its code server (%s); its run worker checks it",
            location.name,
            job.name,
            verdict.unchecked,
        )
    return None


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
