"""User endpoints for automations: list, show, start, stop, ticks, run now, backfills."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from contracts.automation_flows import BackfillState
from contracts.automations import (
    AutomationKind,
    AutomationList,
    AutomationStatus,
    AutomationView,
    BackfillList,
    BackfillRequest,
    BackfillView,
    TickList,
)
from controlplane.audit import Action
from controlplane.auth import Editor, Viewer
from controlplane.errors import Conflict, Invalid
from controlplane.services import Services, ServicesDep

router = APIRouter(prefix="/api/automations", tags=["automations"])


@router.get("")
def list_automations(services: ServicesDep, _: Viewer, location: str | None = None) -> AutomationList:
    """Every schedule and sensor (of one location), with its status and last tick."""
    return services.automations.list(location)


@router.get("/{location}/{name}")
def get_automation(location: str, name: str, services: ServicesDep, _: Viewer) -> AutomationView:
    """One automation."""
    return services.automations.get(location, name)


async def _set(services: Services, location: str, name: str, wanted: AutomationStatus) -> AutomationView:
    await run_in_threadpool(services.automations.set_status, location, name, wanted)
    await services.automation_sync.sync(location)
    return await run_in_threadpool(services.automations.get, location, name)


@router.post("/{location}/{name}/start")
async def start_automation(location: str, name: str, services: ServicesDep, who: Editor) -> AutomationView:
    """Let it tick (it stays started across redeploys and restarts)."""
    view = await _set(services, location, name, AutomationStatus.RUNNING)
    await services.audit.note(who, Action.automation_started, f"{location}/{name}")
    return view


@router.post("/{location}/{name}/stop")
async def stop_automation(location: str, name: str, services: ServicesDep, who: Editor) -> AutomationView:
    """No more ticks until started again (it stays stopped across redeploys and restarts)."""
    view = await _set(services, location, name, AutomationStatus.STOPPED)
    await services.audit.note(who, Action.automation_stopped, f"{location}/{name}")
    return view


@router.get("/{location}/{name}/ticks")
def list_ticks(
    location: str,
    name: str,
    services: ServicesDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TickList:
    """Its ticks, newest first: time, outcome, reason, runs, cursor."""
    return services.automations.ticks(location, name, limit)


async def _schedule(services: Services, location: str, name: str) -> AutomationView:
    view = await run_in_threadpool(services.automations.get, location, name)
    if view.kind is not AutomationKind.SCHEDULE:
        raise Invalid(f"'{location}/{name}' is a {view.kind}: only schedules tick on demand or backfill")
    if view.error:
        raise Conflict(f"schedule '{location}/{name}' cannot tick: {view.error}")
    return view


@router.post("/{location}/{name}/run-now", status_code=status.HTTP_202_ACCEPTED)
async def run_now(location: str, name: str, services: ServicesDep, who: Editor) -> AutomationView:
    """Tick the schedule once, now (its tick appears in its ticks)."""
    view = await _schedule(services, location, name)
    await services.automation_sync.sync(location)
    await services.temporal_automations.trigger(view.temporal_id)
    await services.audit.note(who, Action.automation_run_now, f"{location}/{name}")
    return view


@router.post("/{location}/{name}/backfills", status_code=status.HTTP_201_CREATED)
async def backfill(location: str, name: str, body: BackfillRequest, services: ServicesDep, who: Editor) -> BackfillView:
    """One run per tick of the schedule between `start` and `end`, at most `rate_per_s` a second; each run is
    the one the schedule gives for that time, so a backfill issued again launches nothing twice."""
    view = await _schedule(services, location, name)
    if body.end < body.start:
        raise Invalid("backfill: end is before start")
    await services.automation_sync.sync(location)
    times = await services.temporal_automations.schedule_times(view.temporal_id, body.start, body.end)
    if not times:
        raise Invalid(f"schedule '{location}/{name}' has no tick between {body.start} and {body.end}")
    if len(times) > body.max_ticks:
        raise Invalid(f"the range holds {len(times)} ticks, more than max_ticks ({body.max_ticks}): narrow it")
    created = await run_in_threadpool(services.automations.add_backfill, location, name, body.start, body.end, times)
    queue = await run_in_threadpool(services.automations.queue_of, location)
    assert queue is not None
    state = BackfillState(
        backfill_id=created.id,
        location=location,
        schedule=name,
        times=times,
        rate_per_s=body.rate_per_s,
        evaluation_timeout_s=services.settings.automation_evaluation_timeout_s,
    )
    await services.temporal_automations.start_backfill(state, queue)
    detail = f"{created.id}: {len(times)} ticks from {body.start.isoformat()} to {body.end.isoformat()}"
    await services.audit.note(who, Action.automation_backfill, f"{location}/{name}", detail)
    return created


@router.get("/{location}/{name}/backfills")
def list_backfills(location: str, name: str, services: ServicesDep, _: Viewer) -> BackfillList:
    """The schedule's backfills, newest first, with their progress."""
    return services.automations.backfills(location, name)
