"""The audit log: GET /api/audit (every user role may read it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contracts.api import AuditList
from controlplane.auth import Viewer
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
def list_audit(
    services: ServicesDep,
    _: Viewer,
    action: Annotated[
        str | None, Query(max_length=40, description="One action (run.launched), or a prefix ending in '.' (run.).")
    ] = None,
    actor: Annotated[str | None, Query(max_length=32, description="Only what this token id did.")] = None,
    cursor: Annotated[str | None, Query(max_length=20, description="The previous page's next_cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """Who did what, newest first: launches, cancels, re-executions, location, limit, automation and token changes."""
    return services.audit.list(action=action, actor=actor, cursor=cursor, limit=limit)
