"""User endpoints for runs: launch, list, show, events, logs, cancel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import EventList, LaunchRunResponse, LogList, RunList, RunView
from contracts.runs import MAX_INT32, RunRequest
from contracts.statuses import RunStatus
from controlplane.errors import Unavailable
from controlplane.services import ServicesDep
from controlplane.tokens import AdminOnly

router = APIRouter(prefix="/api/runs", tags=["runs"])
MAX_WAIT_S = 60.0
# A waiting request re-reads its run this often: another control-plane replica may have taken the final report.
RECHECK_S = 1.0


@router.post("", status_code=status.HTTP_201_CREATED, responses={200: {"model": LaunchRunResponse}})
async def launch_run(request: RunRequest, response: Response, services: ServicesDep, _: AdminOnly) -> LaunchRunResponse:
    """Launch a job: 201 with a new run, or 200 with the run an earlier request with the same idempotency key made."""
    launch = await run_in_threadpool(services.runs.launch, request)
    if not launch.created or launch.location is None:
        response.status_code = status.HTTP_200_OK
        return LaunchRunResponse(run=launch.run, created=False)
    try:
        await services.temporal.start_run(launch.run.id, request, launch.location)
    except Exception as err:
        await run_in_threadpool(services.runs.discard, launch.run.id)
        if isinstance(err, Unavailable):
            raise Unavailable(f"the run was not launched: {err.message}") from err
        raise
    return LaunchRunResponse(run=launch.run, created=True)


@router.get("")
def list_runs(
    services: ServicesDep,
    _: AdminOnly,
    location: str | None = None,
    job: str | None = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunList:
    """Runs, newest first, filtered by location, job and status."""
    return services.runs.list(location=location, job=job, status=status, limit=limit)


@router.get("/{run_id}")
def get_run(run_id: str, services: ServicesDep, _: AdminOnly) -> RunView:
    """One run."""
    return services.runs.get(run_id)


@router.get("/{run_id}/wait")
async def wait_for_run(
    run_id: str,
    services: ServicesDep,
    _: AdminOnly,
    timeout_s: Annotated[float, Query(gt=0, le=MAX_WAIT_S)] = 30.0,
) -> RunView:
    """The run as soon as it has finished, or as it is after `timeout_s` (then its status is not final)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Registered before the first read: a final report arriving in between still wakes us.
    with services.waiters.waiting(run_id) as finished:
        while True:
            run = await run_in_threadpool(services.runs.get, run_id)
            remaining = deadline - loop.time()
            if run.status.is_terminal or remaining <= 0:
                return run
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), min(remaining, RECHECK_S))
            finished.clear()  # before the next read: a report after it sets the event again


@router.get("/{run_id}/events")
def list_events(
    run_id: str,
    services: ServicesDep,
    _: AdminOnly,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    attempt: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> EventList:
    """A run's events with seq > after_seq, in order (optionally of one attempt)."""
    return services.runs.events(run_id, after_seq=after_seq, attempt=attempt)


@router.get("/{run_id}/logs")
def list_logs(
    run_id: str,
    services: ServicesDep,
    _: AdminOnly,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    attempt: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> LogList:
    """A run's log lines with seq > after_seq, in order (optionally of one attempt)."""
    return services.runs.logs(run_id, after_seq=after_seq, attempt=attempt)


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: str, services: ServicesDep, _: AdminOnly) -> RunView:
    """Ask the run's workflow to cancel (graceful stop, then kill); 409 if the run already finished."""
    await run_in_threadpool(services.runs.require_cancelable, run_id)
    # Temporal first: if it cannot take the request, the run must not look like it is being canceled.
    await services.temporal.cancel_run(run_id)
    return await run_in_threadpool(services.runs.mark_canceling, run_id)
