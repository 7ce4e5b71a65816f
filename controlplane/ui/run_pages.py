"""Pages of runs: the list (filters, pages, live rows), one run (timeline, logs, events, lineage) and launch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from contracts.api import RunList, RunView
from contracts.automations import AUTOMATION_TAG
from contracts.run_protocol import RunStatus
from controlplane.errors import ControlPlaneError, Invalid
from controlplane.run_search import RunFilter, parse_tag_filters
from controlplane.services import ServicesDep
from controlplane.ui.access import Page
from controlplane.ui.config_form import config_fields
from controlplane.ui.rendering import render

router = APIRouter()
PAGE_SIZE = 50
LOG_TAIL_LINES = 500


def _time(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: not a date and time (YYYY-MM-DDTHH:MM)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _filter(
    status: list[str], location: str, job: str, tag: str, automation: str, after: str, before: str
) -> RunFilter:
    tags = [part.strip() for part in tag.split(",") if part.strip()]
    if automation:
        if automation.count("/") != 1:
            raise Invalid("automation: expected LOCATION/NAME")
        tags.append(f"{AUTOMATION_TAG}={automation}")
    try:
        statuses = tuple(RunStatus(s) for s in status if s)
    except ValueError:
        raise Invalid(f"status: one of {', '.join(RunStatus)}") from None
    return RunFilter(
        location=location or None,
        job=job or None,
        statuses=statuses,
        tags=parse_tag_filters(tags),
        created_after=_time(after, "created after"),
        created_before=_time(before, "created before"),
    )


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(
    request: Request,
    services: ServicesDep,
    user: Page,
    status: Annotated[list[str] | None, Query(max_length=20)] = None,
    location: Annotated[str, Query(max_length=40)] = "",
    job: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=500)] = "",
    automation: Annotated[str, Query(max_length=200)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=600)] = None,
    fragment: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    """Runs, newest first, a page at a time; `fragment=rows`: only the table's rows (the page's live refresh)."""
    error = ""
    runs = RunList(runs=[])
    try:
        where = _filter(status or [], location, job, tag, automation, after, before)
        runs = await run_in_threadpool(services.runs.list, where, cursor=cursor, limit=PAGE_SIZE)
    except ControlPlaneError as err:
        error = err.message
    filters = {
        "status": status or [],
        "location": location,
        "job": job,
        "tag": tag,
        "automation": automation,
        "after": after,
        "before": before,
    }
    pairs = [("status", s) for s in status or []] + [(k, v) for k, v in filters.items() if k != "status" and v]
    template = "run_rows.html" if fragment == "rows" else "runs.html"
    locations = [] if fragment else (await run_in_threadpool(services.locations.list)).locations
    return render(
        request,
        user,
        template,
        runs=runs,
        error=error,
        filters=filters,
        statuses=list(RunStatus),
        locations=locations,
        cursor=cursor,
        filter_query=urlencode(pairs),
    )


def _timeline(run: RunView) -> list[tuple[str, datetime | None]]:
    steps: list[tuple[str, datetime | None]] = [("QUEUED", run.created_at)]
    steps.append(("STARTING", run.dequeued_at))
    steps.append(("STARTED", run.started_at))
    final = run.status.value if run.status.is_terminal else "final"
    steps.append((final, run.finished_at))
    return steps


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(run_id: str, request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """One run: status timeline, reason, live logs and events, tags, config, attempts, lineage, actions."""
    run = await run_in_threadpool(services.runs.get, run_id)
    children = await run_in_threadpool(services.runs.list, RunFilter(parent_run_id=run_id), limit=20)
    return render(request, user, "run.html", run=run, timeline=_timeline(run), reexecutions=children.runs)


@router.get("/launch", response_class=HTMLResponse)
async def launch_page(
    request: Request,
    services: ServicesDep,
    user: Page,
    location: Annotated[str, Query(max_length=40)] = "",
    job: Annotated[str, Query(max_length=200)] = "",
    assets: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Choose a location and a job, then a form from the job's config schema (plus tags, idempotency key).

    `assets` (a Dagster location's asset keys, from its location page) narrows the launch to those assets; the API
    checks that the job materializes them."""
    locations = (await run_in_threadpool(services.locations.list)).locations
    chosen = next((loc for loc in locations if loc.name == location), None)
    definition = chosen.definitions.job(job) if chosen is not None and job else None
    fields = config_fields(definition.config_schema) if definition is not None else []
    whole_json = definition is not None and bool(definition.config_schema) and not fields
    return render(
        request,
        user,
        "launch.html",
        locations=locations,
        chosen=chosen,
        job=definition,
        fields=fields,
        whole_json=whole_json,
        assets=sorted(set(assets)) if assets and definition is not None else [],
    )
