"""Who is calling, and may they: the FastAPI dependencies every endpoint uses.

A request authenticates with `Authorization: Bearer <token>` (CLI, agents, run workers, scripts) or with the
browser session cookie (controlplane/sessions.py); a state-changing request made with the cookie must also
carry the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from contracts.roles import WHAT_IT_ADDS, Role
from controlplane.sessions import COOKIE, CSRF_HEADER, Session, SessionStore, csrf_matches
from controlplane.tokens import Principal, TokenStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="Admin, agent or run token.")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def session_of(request: Request) -> Session | None:
    """The browser session the request's cookie names, if any (401 if the cookie names none that is open)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    sessions: SessionStore = request.app.state.services.sessions
    found = await run_in_threadpool(sessions.resolve, session_id)
    if isinstance(found, str):
        raise _unauthorized(found)
    return found


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's principal from the bearer token or the session cookie; 401 if neither is valid."""
    if credentials is not None and credentials.credentials:
        store: TokenStore = request.app.state.services.tokens
        principal = await run_in_threadpool(store.check, credentials.credentials)
        if isinstance(principal, str):
            raise _unauthorized(principal)
        return principal
    session = await session_of(request)
    if session is None:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>' (or sign in)")
    if request.method not in SAFE_METHODS and not csrf_matches(session, request.headers.get(CSRF_HEADER)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"missing or wrong {CSRF_HEADER} header for this session")
    return session.principal


Authenticated = Annotated[Principal, Depends(authenticate)]


def require_role(needed: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through user tokens (and their sessions) whose role includes `needed`'s rights.

    This is the one place the role rule lives: an endpoint names its role with Viewer, Launcher, Editor or
    AdminOnly; the 403 names the missing role."""

    def check(principal: Authenticated) -> Principal:
        if principal.kind != "admin" or principal.role is None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a user token with role '{needed}' is required (this token is of kind '{principal.kind}')",
            )
        if not principal.role.allows(needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role '{needed}' is required to {WHAT_IT_ADDS[needed]} (this token's role is "
                f"'{principal.role}')",
            )
        return principal

    check.__name__ = f"require_{needed}"
    return check


require_admin = require_role(Role.admin)


def require_agent(principal: Authenticated) -> Principal:
    """Only agent tokens pass (/api/agent/*)."""
    if principal.kind != "agent":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"an agent token is required (this token is of kind '{principal.kind}')"
        )
    return principal


def require_run_writer(principal: Authenticated, run_id: Annotated[str, Path()]) -> Principal:
    """An admin, or a run token scoped to the run in the path."""
    if principal.role is Role.admin or (principal.kind == "run" and principal.run_id == run_id):
        return principal
    if principal.kind == "run":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this run token belongs to another run")
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"a run token of run {run_id} is required")


Viewer = Annotated[Principal, Depends(require_role(Role.viewer))]
Launcher = Annotated[Principal, Depends(require_role(Role.launcher))]
Editor = Annotated[Principal, Depends(require_role(Role.editor))]
AdminOnly = Annotated[Principal, Depends(require_admin)]
AgentOnly = Annotated[Principal, Depends(require_agent)]
RunWriter = Annotated[Principal, Depends(require_run_writer)]
