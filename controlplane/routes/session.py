"""Browser sign-in: a token becomes a server-side session behind an HttpOnly cookie (controlplane/sessions.py)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import SessionView, SignIn
from controlplane.auth import session_of
from controlplane.services import ServicesDep
from controlplane.sessions import COOKIE, CSRF_HEADER, Session, csrf_matches

router = APIRouter(prefix="/api/session", tags=["session"])


def _view(session: Session) -> SessionView:
    principal = session.principal
    return SessionView(
        kind=principal.kind,
        token_id=principal.token_id,
        name=principal.name,
        role=principal.role,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def sign_in(body: SignIn, request: Request, response: Response, services: ServicesDep) -> SessionView:
    """Open a session with a user token (of any role: the session acts with it); the answer sets the session
    cookie (HttpOnly, SameSite=Strict)."""
    principal = await run_in_threadpool(services.tokens.check, body.token)
    if isinstance(principal, str):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=principal)
    if principal.kind != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"a {principal.kind} token cannot sign in")
    session_id, session = await run_in_threadpool(services.sessions.open, principal)
    response.set_cookie(
        COOKIE,
        session_id,
        expires=session.expires_at,
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        # Strict still reaches us from the Temporal UI on another port of the same host (same site).
        samesite="strict",
    )
    return _view(session)


@router.get("")
async def current_session(request: Request) -> SessionView:
    """The session of this browser (with its CSRF token); 401 when not signed in."""
    session = await session_of(request)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="not signed in")
    return _view(session)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(request: Request, services: ServicesDep) -> Response:
    """End this browser's session (needs its CSRF token) and clear the cookie; idempotent."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        found = await run_in_threadpool(services.sessions.resolve, session_id)
        if not isinstance(found, str) and not csrf_matches(found, request.headers.get(CSRF_HEADER)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"missing or wrong {CSRF_HEADER} header")
        await run_in_threadpool(services.sessions.close, session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path="/")
    return response
