"""User endpoints for code locations: create/update, list, show, redeploy, remove."""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import LocationEventList, LocationList, LocationView, RedeployBody
from contracts.locations import LocationSpec, agent_queue_change
from contracts.statuses import LocationStatus
from controlplane.audit import Action
from controlplane.auth import Editor, Viewer
from controlplane.errors import Conflict, Invalid
from controlplane.secret_env import SecretEnvSealer
from controlplane.services import Services, ServicesDep

router = APIRouter(prefix="/api/locations", tags=["locations"])


async def _create(services: Services, spec: LocationSpec) -> LocationView:
    """Claim the row, then start the workflow; the claim is undone if Temporal refuses."""
    claim = await run_in_threadpool(services.locations.claim, spec)
    try:
        await services.temporal.start_location(spec, replace_existing=claim.replaced_stopped)
    except Exception:
        await run_in_threadpool(services.locations.release, spec.name, claim)
        raise
    return claim.view


# One redeploy of a location at a time, across every control-plane replica (a lease on the location's row): the
# workflow applies redeploys in the order it accepted them, so the spec stored here is written in that order.
LEASE_POLL_S = 0.1


async def _redeploy(services: Services, current: LocationView, spec: LocationSpec) -> LocationView:
    if current.status in (LocationStatus.STOPPING, LocationStatus.STOPPED):
        raise Conflict(f"code location '{spec.name}' is {current.status}; add it again instead of redeploying")
    if spec.agent_queue != current.spec.agent_queue:
        raise Invalid(agent_queue_change(current.spec.agent_queue, spec.agent_queue))
    settings = services.settings
    lease = secrets.token_hex(16)
    # Long enough for the update and its RPC: a lease outliving a dead replica blocks redeploys only this long.
    ttl_s = settings.temporal_update_timeout_s + 30.0
    deadline = asyncio.get_running_loop().time() + settings.temporal_update_timeout_s
    while not await run_in_threadpool(services.locations.take_redeploy_lease, spec.name, lease, ttl_s):
        if asyncio.get_running_loop().time() >= deadline:
            raise Conflict(f"another redeploy of code location '{spec.name}' is still in progress; try again")
        await asyncio.sleep(LEASE_POLL_S)
    try:
        await services.temporal.redeploy_location(spec)
    except BaseException:
        await run_in_threadpool(services.locations.release_redeploy_lease, spec.name, lease)
        raise
    stored = await run_in_threadpool(services.locations.set_spec, spec, lease)
    # Lost the lease (a stall past its ttl): the workflow's own reports store the spec that serves.
    return stored if stored is not None else await run_in_threadpool(services.locations.require, spec.name)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_location(spec: LocationSpec, services: ServicesDep, who: Editor) -> LocationView:
    """Add a code location and start its workflow; 409 if it exists and is not STOPPED."""
    created = await _create(services, SecretEnvSealer.keep_masked(spec, None))
    await services.audit.note(who, Action.location_created, spec.name)
    return created


@router.put("/{name}", responses={201: {"model": LocationView}})
async def put_location(
    name: str, spec: LocationSpec, response: Response, services: ServicesDep, who: Editor
) -> LocationView:
    """Declare a location: created (201) if absent or STOPPED, redeployed (200) if its spec changed."""
    if spec.name != name:
        raise Invalid(f"spec name '{spec.name}' does not match the path name '{name}'")
    current = await run_in_threadpool(services.locations.get, name)
    if current is None or current.status == LocationStatus.STOPPED:
        response.status_code = status.HTTP_201_CREATED
        created = await _create(services, SecretEnvSealer.keep_masked(spec, None))
        await services.audit.note(who, Action.location_created, name)
        return created
    stored = await run_in_threadpool(services.locations.spec, name)
    spec = SecretEnvSealer.keep_masked(spec, stored)
    if stored == spec:
        return current
    redeployed = await _redeploy(services, current, spec)
    await services.audit.note(who, Action.location_redeployed, name, "new spec")
    return redeployed


@router.get("")
def list_locations(services: ServicesDep, _: Viewer) -> LocationList:
    """All code locations."""
    return services.locations.list()


@router.get("/{name}")
def get_location(name: str, services: ServicesDep, _: Viewer) -> LocationView:
    """One code location with its status and definitions."""
    return services.locations.require(name)


@router.get("/{name}/events")
def location_events(
    name: str, services: ServicesDep, _: Viewer, limit: int = Query(default=1000, ge=1, le=10000)
) -> LocationEventList:
    """The location's status changes (starts, crashes, restarts, redeploys), oldest first."""
    return services.locations.events(name, limit)


@router.post("/{name}/redeploy", status_code=status.HTTP_202_ACCEPTED)
async def redeploy_location(
    name: str, services: ServicesDep, who: Editor, body: RedeployBody | None = None
) -> LocationView:
    """Blue/green redeploy (new spec or the current one); returns once the workflow accepted it."""
    current = await run_in_threadpool(services.locations.require, name)
    stored = await run_in_threadpool(services.locations.spec, name)
    spec = SecretEnvSealer.keep_masked(body.spec, stored) if body is not None and body.spec is not None else stored
    assert spec is not None
    if spec.name != name:
        raise Invalid(f"spec name '{spec.name}' does not match the path name '{name}'")
    redeployed = await _redeploy(services, current, spec)
    changed = body is not None and body.spec is not None
    await services.audit.note(who, Action.location_redeployed, name, "new spec" if changed else "same spec")
    return redeployed


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED)
async def remove_location(name: str, services: ServicesDep, who: Editor) -> LocationView:
    """Ask the location's workflow to stop its server and finish (its schedules and sensors stop ticking); the
    status becomes STOPPING."""
    current = await run_in_threadpool(services.locations.require, name)
    if current.status == LocationStatus.STOPPED:
        return current
    if await services.temporal.stop_location(name):
        stopping = await run_in_threadpool(services.locations.mark, name, LocationStatus.STOPPING)
    else:
        # No workflow left to do the stopping, so nothing of this location runs any more.
        stopping = await run_in_threadpool(
            services.locations.mark, name, LocationStatus.STOPPED, "its workflow had already finished"
        )
    services.automation_sync.kick(name)  # its schedules and sensors stop ticking
    await services.audit.note(who, Action.location_removed, name)
    return stopping
