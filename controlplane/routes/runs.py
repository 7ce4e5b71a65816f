"""User endpoints for runs: launch, list, show, events, logs, cancel."""

from __future__ import annotations

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
