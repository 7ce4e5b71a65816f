"""User endpoints for the run queue's concurrency limits: list, set, remove, sync a whole set."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.run_limits import LimitList, LimitSet, LimitSync, LimitSyncResult, LimitView
from controlplane.audit import Action
from controlplane.auth import Editor, Viewer
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/limits", tags=["limits"])


@router.get("")
def list_limits(services: ServicesDep, _: Viewer) -> LimitList:
    """Every limit, with the runs holding a slot under it and those waiting for one."""
    return LimitList(limits=services.limits.list())


@router.put("")
async def sync_limits(body: LimitSync, services: ServicesDep, who: Editor) -> LimitSyncResult:
    """Make the limits exactly these (a limits file): the others are removed; all or nothing."""
    result = await run_in_threadpool(services.limits.sync, body)
    if not body.dry_run:
        await services.audit.note(who, Action.limits_synced, "limits", f"{len(body.limits)} limit(s)")
        await services.dispatcher.dequeue(thorough=True)
    return result


@router.put("/{scope:path}")
async def set_limit(scope: str, body: LimitSet, services: ServicesDep, who: Editor) -> LimitView:
    """Create or change one limit (`deployment`, `queue:Q`, `pool:P`, `tag:K`, `tag:K=V`, `tag:K=*`); at once."""
    view = await run_in_threadpool(services.limits.set, scope, body.max_concurrent)
    await services.audit.note(who, Action.limit_set, scope, f"max_concurrent={body.max_concurrent}")
    await services.dispatcher.dequeue(thorough=True)  # a raised limit lets runs out at once
    return view


@router.delete("/{scope:path}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_limit(scope: str, services: ServicesDep, who: Editor) -> Response:
    """Remove one limit; the runs it held back may leave the queue at once."""
    await run_in_threadpool(services.limits.remove, scope)
    await services.audit.note(who, Action.limit_removed, scope)
    await services.dispatcher.dequeue(thorough=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
