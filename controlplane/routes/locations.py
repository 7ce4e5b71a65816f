"""User endpoints for code locations: create/update, list, show, redeploy, remove."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import LocationEventList, LocationList, LocationView, RedeployBody
from contracts.locations import LocationSpec
from contracts.statuses import LocationStatus
from controlplane.errors import Conflict, Invalid
from controlplane.services import Services, ServicesDep
from controlplane.tokens import AdminOnly

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


# One redeploy of a location at a time through this control plane: the workflow applies redeploys in the order
# it accepted them, so the spec stored here must be written in that same order (else the last one stored might
# not be the one serving).
_redeploy_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def _redeploy(services: Services, current: LocationView, spec: LocationSpec) -> LocationView:
    if current.status in (LocationStatus.STOPPING, LocationStatus.STOPPED):
        raise Conflict(f"code location '{spec.name}' is {current.status}; add it again instead of redeploying")
    async with _redeploy_locks[spec.name]:
        await services.temporal.redeploy_location(spec)
        return await run_in_threadpool(services.locations.set_spec, spec)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_location(spec: LocationSpec, services: ServicesDep, _: AdminOnly) -> LocationView:
    """Add a code location and start its workflow; 409 if it exists and is not STOPPED."""
    return await _create(services, spec)


@router.put("/{name}", responses={201: {"model": LocationView}})
async def put_location(
    name: str, spec: LocationSpec, response: Response, services: ServicesDep, _: AdminOnly
) -> LocationView:
    """Declare a location: created (201) if absent or STOPPED, redeployed (200) if its spec changed."""
    if spec.name != name:
        raise Invalid(f"spec name '{spec.name}' does not match the path name '{name}'")
    current = await run_in_threadpool(services.locations.get, name)
    if current is None or current.status == LocationStatus.STOPPED:
        response.status_code = status.HTTP_201_CREATED
        return await _create(services, spec)
    if current.spec == spec:
        return current
    return await _redeploy(services, current, spec)


@router.get("")
def list_locations(services: ServicesDep, _: AdminOnly) -> LocationList:
    """All code locations."""
    return services.locations.list()


@router.get("/{name}")
def get_location(name: str, services: ServicesDep, _: AdminOnly) -> LocationView:
    """One code location with its status and definitions."""
    return services.locations.require(name)


@router.get("/{name}/events")
def location_events(
    name: str, services: ServicesDep, _: AdminOnly, limit: int = Query(default=1000, ge=1, le=10000)
) -> LocationEventList:
    """The location's status changes (starts, crashes, restarts, redeploys), oldest first."""
    return services.locations.events(name, limit)


@router.post("/{name}/redeploy", status_code=status.HTTP_202_ACCEPTED)
async def redeploy_location(
    name: str, services: ServicesDep, _: AdminOnly, body: RedeployBody | None = None
) -> LocationView:
    """Blue/green redeploy (new spec or the current one); returns once the workflow accepted it."""
    current = await run_in_threadpool(services.locations.require, name)
    spec = body.spec if body is not None and body.spec is not None else current.spec
    if spec.name != name:
        raise Invalid(f"spec name '{spec.name}' does not match the path name '{name}'")
    return await _redeploy(services, current, spec)


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED)
async def remove_location(name: str, services: ServicesDep, _: AdminOnly) -> LocationView:
    """Ask the location's workflow to stop its server and finish; the status becomes STOPPING."""
    current = await run_in_threadpool(services.locations.require, name)
    if current.status == LocationStatus.STOPPED:
        return current
    if await services.temporal.stop_location(name):
        return await run_in_threadpool(services.locations.mark, name, LocationStatus.STOPPING)
    # No workflow left to do the stopping, so nothing of this location runs any more.
    return await run_in_threadpool(
        services.locations.mark, name, LocationStatus.STOPPED, "its workflow had already finished"
    )
