"""Pages of what runs where: the overview, locations, automations and the run queue."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from contracts.automations import AutomationKind, TickOutcome
from contracts.run_protocol import RunStatus
from controlplane.run_search import RunFilter
from controlplane.services import Services, ServicesDep
from controlplane.tables import RunRow, utcnow
from controlplane.ui.access import Page
from controlplane.ui.asset_table import asset_groups
from controlplane.ui.rendering import render

router = APIRouter()


def _runs_by_status(services: Services, hours: int = 24) -> Counter[str]:
    since = utcnow() - timedelta(hours=hours)
    query = select(RunRow.status, func.count()).where(RunRow.created_at >= since).group_by(RunRow.status)
    with services.db.read() as db:
        return Counter({status: count for status, count in db.execute(query)})


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """Locations, agents, runs of the last 24 h by status, failing automations, recent runs."""
    locations = await run_in_threadpool(services.locations.list)
    agents = await run_in_threadpool(services.agents.list, dict(services.liveness.pollers))
    counts = await run_in_threadpool(_runs_by_status, services)
    automations = await run_in_threadpool(services.automations.list)
    failing = [
        a
        for a in automations.automations
        if a.error or (a.last_tick is not None and a.last_tick.outcome is TickOutcome.FAILURE)
    ]
    recent = await run_in_threadpool(services.runs.list, RunFilter(), limit=10)
    return render(
        request,
        user,
        "overview.html",
        locations=locations.locations,
        agents=agents.agents,
        counts=[(status.value, counts.get(status.value, 0)) for status in RunStatus],
        failing=failing,
        recent=recent.runs,
    )


@router.get("/locations", response_class=HTMLResponse)
async def locations_page(request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """Every location: status, generation, server, jobs."""
    locations = await run_in_threadpool(services.locations.list)
    return render(request, user, "locations.html", locations=locations.locations)


@router.get("/locations/{name}", response_class=HTMLResponse)
async def location_page(name: str, request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """One location: definitions (jobs with schemas, assets, schedules, sensors), status history; redeploy, remove."""
    location = await run_in_threadpool(services.locations.require, name)
    events = await run_in_threadpool(services.locations.events, name, 200)
    return render(
        request,
        user,
        "location.html",
        location=location,
        asset_groups=asset_groups(location.name, location.definitions),
        events=list(reversed(events.events)),
    )


@router.get("/automations", response_class=HTMLResponse)
async def automations_page(
    request: Request, services: ServicesDep, user: Page, location: Annotated[str, Query(max_length=40)] = ""
) -> HTMLResponse:
    """Schedules and sensors with their last tick; start, stop, run now."""
    automations = await run_in_threadpool(services.automations.list, location or None)
    return render(request, user, "automations.html", automations=automations.automations)


@router.get("/automations/{location}/{name}", response_class=HTMLResponse)
async def automation_page(
    location: str, name: str, request: Request, services: ServicesDep, user: Page
) -> HTMLResponse:
    """One schedule or sensor: its ticks and backfills; start, stop, run now, backfill."""
    automation = await run_in_threadpool(services.automations.get, location, name)
    ticks = await run_in_threadpool(services.automations.ticks, location, name, 50)
    backfills = (
        (await run_in_threadpool(services.automations.backfills, location, name)).backfills
        if automation.kind is AutomationKind.SCHEDULE
        else []
    )
    return render(request, user, "automation.html", automation=automation, ticks=ticks.ticks, backfills=backfills)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """Queued runs in their order, and every limit and pool with the slots in use."""
    queued = await run_in_threadpool(services.runs.list, RunFilter(statuses=(RunStatus.QUEUED,)), limit=200)
    waiting = sorted(
        (run for run in queued.runs if run.dequeued_at is None),
        key=lambda run: (run.queue_position is None, run.queue_position or 0),
    )
    limits = await run_in_threadpool(services.limits.list)
    return render(request, user, "queue.html", waiting=waiting, limits=limits)
