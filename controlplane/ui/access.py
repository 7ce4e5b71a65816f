"""Who is looking at a page: the browser session (or a bearer token, for scripts and benches), or a redirect to
the sign-in page. Pages only hide what a role cannot do; the API they call enforces it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.roles import Role
from controlplane.auth import authenticate, session_of
from controlplane.tokens import Principal

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class PageUser:
    """The principal a page is rendered for, and the CSRF token its scripts send with every change."""

    principal: Principal
    csrf_token: str = ""

    @property
    def role(self) -> Role:
        """Its role (every page user has one: only user tokens may open pages)."""
        return self.principal.role or Role.viewer

    def can(self, needed: str) -> bool:
        """True if its role includes `needed`'s rights (the template's `can('launcher')`)."""
        return self.role.allows(Role(needed))


def _to_sign_in(request: Request) -> HTTPException:
    # A 303 with Location: the app's error handler keeps the headers, so the browser goes to the sign-in page.
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, detail="sign in first", headers={"Location": f"/signin?next={quote(target)}"}
    )


async def page_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> PageUser:
    """The page's user; not signed in (or the session ended): redirect to /signin; a non-user token: 403."""
    session = None
    try:
        if credentials is not None and credentials.credentials:
            principal = await authenticate(request, credentials)
        else:
            session = await session_of(request)
            if session is None:
                raise _to_sign_in(request)
            principal = session.principal
    except HTTPException as err:
        if err.status_code == status.HTTP_401_UNAUTHORIZED:
            raise _to_sign_in(request) from None
        raise
    if principal.role is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"a {principal.kind} token cannot open pages")
    return PageUser(principal=principal, csrf_token=session.csrf_token if session is not None else "")


Page = Annotated[PageUser, Depends(page_user)]
