"""Pages of access: sign-in, tokens (admins), the audit log, and alerts (policies and deliveries)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from contracts.roles import ORDER, WHAT_IT_ADDS, Role
from controlplane.errors import ControlPlaneError
from controlplane.services import ServicesDep
from controlplane.ui.access import Page
from controlplane.ui.rendering import render, templates

router = APIRouter()


@router.get("/signin", response_class=HTMLResponse)
def sign_in_page(next: Annotated[str, Query(max_length=2000)] = "/") -> HTMLResponse:
    """The sign-in form: the token is posted once to /api/session and never kept by the browser."""
    # Only a path of this site: never an open redirect to another one.
    # (A backslash counts: browsers read "/\\host" as "//host".)
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    return HTMLResponse(templates.get_template("signin.html").render(next=target, user=None))


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """User and agent tokens: create (a role), revoke (admins only)."""
    if not user.can(Role.admin):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"role 'admin' is required to {WHAT_IT_ADDS[Role.admin]}")
    tokens = await run_in_threadpool(services.tokens.list)
    roles = [(role.value, WHAT_IT_ADDS[role]) for role in ORDER]
    return render(request, user, "tokens.html", tokens=tokens.tokens, roles=roles)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    services: ServicesDep,
    user: Page,
    action: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Who did what, newest first, a page at a time."""
    error = ""
    try:
        entries = await run_in_threadpool(services.audit.list, action=action or None, cursor=cursor, limit=100)
    except ControlPlaneError as err:
        error, entries = err.message, None
    return render(request, user, "audit.html", entries=entries, action=action, error=error)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, services: ServicesDep, user: Page) -> HTMLResponse:
    """Alert policies (channel secrets as ***) and the latest delivery attempts; changes go through the CLI/API."""
    policies = await run_in_threadpool(services.alert_policies.list)
    deliveries = await run_in_threadpool(services.alert_events.history, limit=100)
    return render(request, user, "alerts.html", policies=policies.policies, deliveries=deliveries.deliveries)
