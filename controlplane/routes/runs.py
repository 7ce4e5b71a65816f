"""User endpoints for runs: launch, re-execute, list, show, events, logs, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import EventList, LaunchRunResponse, LogList, RunList, RunView
from contracts.run_protocol import RESERVED_TAG_PREFIX, RunStatus, set_by_longshoreman_only
from contracts.runs import MAX_INT32, ReexecuteRequest, RunRequest
from controlplane import run_launches
from controlplane.audit import Action
from controlplane.auth import Launcher, Viewer
from controlplane.errors import Conflict, Invalid
from controlplane.run_monitor import reconcile_run
from controlplane.run_search import RunFilter, parse_tag_filters
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/runs", tags=["runs"])
MAX_WAIT_S = 60.0
CANCELED_WAITING = "canceled while it waited in the run queue (it was never launched)"


@router.post("", status_code=status.HTTP_201_CREATED, responses={200: {"model": LaunchRunResponse}})
async def launch_run(
    request: RunRequest, response: Response, services: ServicesDep, who: Launcher
) -> LaunchRunResponse:
    """Launch a job: 201 with a new run, or 200 with the run an earlier request with the same idempotency key made.

    A run under no limit starts at once (Temporal unreachable: 503, nothing stored); one under a limit waits in
    the run queue until every limit it falls under has room (its `message` says why it waits)."""
    _refuse_reserved_tags(request.tags)
    launched = await run_launches.launch_run(services, request, ask_code_server=True)
    if launched.created:
        await services.audit.note(who, Action.run_launched, launched.run.id, f"{request.location}/{request.job}")
    return _answer(launched, response)


@router.post("/{run_id}/reexecute", status_code=status.HTTP_201_CREATED, responses={200: {"model": LaunchRunResponse}})
async def reexecute_run(
    run_id: str, response: Response, services: ServicesDep, who: Launcher, body: ReexecuteRequest | None = None
) -> LaunchRunResponse:
    """Launch a run again as a new run linked to it (`parent_run_id`): the same location, job, config and tags,
    with `config` replaced and `tags` merged over when given."""
    _refuse_reserved_tags((body.tags if body else None) or {})
    request = await run_in_threadpool(services.runs.reexecution, run_id, body or ReexecuteRequest())
    launched = await run_launches.launch_run(services, request, run_id, ask_code_server=True)
    if launched.created:
        await services.audit.note(who, Action.run_reexecuted, launched.run.id, f"re-executes {run_id}")
    return _answer(launched, response)


def _refuse_reserved_tags(tags: dict[str, str]) -> None:
    reserved = sorted(key for key in tags if set_by_longshoreman_only(key))
    if reserved:
        raise Invalid(f"tag {reserved[0]!r}: tags starting with {RESERVED_TAG_PREFIX!r} are set by Longshoreman only")


def _answer(launched: LaunchRunResponse, response: Response) -> LaunchRunResponse:
    if not launched.created:
        response.status_code = status.HTTP_200_OK
    return launched


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("")
def list_runs(
    services: ServicesDep,
    _: Viewer,
    location: str | None = None,
    job: str | None = None,
    status: Annotated[list[RunStatus] | None, Query(description="Any of these statuses (repeatable).")] = None,
    tag: Annotated[
        list[str] | None, Query(description="KEY=VALUE, or KEY for runs carrying the tag (repeatable: all must hold).")
    ] = None,
    created_after: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601, UTC by default).")
    ] = None,
    created_before: Annotated[datetime | None, Query(description="Created before (ISO 8601, UTC by default).")] = None,
    parent: Annotated[str | None, Query(description="Only re-executions of this run.", max_length=32)] = None,
    cursor: Annotated[str | None, Query(description="The previous page's next_cursor.", max_length=600)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunList:
    """Runs, newest first, filtered by location, job, status, tags, creation time and parent; a page at a time."""
    where = RunFilter(
        location=location,
        job=job,
        statuses=tuple(status or ()),
        tags=parse_tag_filters(tag or []),
        created_after=_utc(created_after),
        created_before=_utc(created_before),
        parent_run_id=parent,
    )
    return services.runs.list(where, cursor=cursor, limit=limit)


@router.get("/{run_id}")
def get_run(run_id: str, services: ServicesDep, _: Viewer) -> RunView:
    """One run."""
    return services.runs.get(run_id)


@router.get("/{run_id}/wait")
async def wait_for_run(
    run_id: str,
    services: ServicesDep,
    _: Viewer,
    timeout_s: Annotated[float, Query(gt=0, le=MAX_WAIT_S)] = 30.0,
) -> RunView:
    """The run as soon as it has finished, or as it is after `timeout_s` (then its status is not final)."""
    return await run_launches.wait_until_final(services, run_id, timeout_s)


@router.get("/{run_id}/events")
def list_events(
    run_id: str,
    services: ServicesDep,
    _: Viewer,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    attempt: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> EventList:
    """A run's events with seq > after_seq, in order (optionally of one attempt)."""
    return services.runs.events(run_id, after_seq=after_seq, attempt=attempt)


@router.get("/{run_id}/logs")
def list_logs(
    run_id: str,
    services: ServicesDep,
    _: Viewer,
    after_seq: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    attempt: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> LogList:
    """A run's log lines with seq > after_seq, in order (optionally of one attempt)."""
    return services.runs.logs(run_id, after_seq=after_seq, attempt=attempt)


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: str, services: ServicesDep, who: Launcher) -> RunView:
    """Ask the run's workflow to cancel (graceful stop, then kill); 409 if the run already finished (also when
    its workflow had closed without saying so: the run then shows how it closed). A run waiting in the run queue
    has no workflow: it ends CANCELED at once and is never launched."""
    canceled = await _cancel(run_id, services)
    await services.audit.note(who, Action.run_canceled, run_id)
    return canceled


async def _cancel(run_id: str, services: ServicesDep) -> RunView:
    view = await run_in_threadpool(services.runs.require_cancelable, run_id)
    if view.status is RunStatus.QUEUED and view.dequeued_at is None:
        if await run_in_threadpool(services.queue.end_waiting, run_id, RunStatus.CANCELED, CANCELED_WAITING):
            services.waiters.finished(run_id)
            return await run_in_threadpool(services.runs.get, run_id)
        # It left the queue meanwhile: its workflow is being started, and is canceled like any other.
    # Temporal first: if it cannot take the request, the run must not look like it is being canceled.
    if not await services.temporal.cancel_run(run_id) and await services.dispatcher.ensure_started(run_id):
        # Out of the queue, its workflow not started yet: started now, so the cancel has a workflow to reach.
        await services.temporal.cancel_run(run_id)
    # A workflow that had already closed without its final report (terminated, timed out: Temporal takes the
    # request all the same) will never end the run: its close decides instead.
    if await reconcile_run(services, run_id):
        run = await run_in_threadpool(services.runs.get, run_id)
        raise Conflict(f"run {run_id} already finished ({run.status}: {run.reason}); nothing to cancel")
    try:
        return await run_in_threadpool(services.runs.mark_canceling, run_id)
    except Conflict:
        run = await run_in_threadpool(services.runs.get, run_id)
        if run.status is RunStatus.CANCELED:
            return run  # the cancel went through before we could even mark it
        raise
