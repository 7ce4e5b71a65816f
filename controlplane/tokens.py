"""API tokens: creation, sha256 storage, verification, and the FastAPI dependencies that enforce kind and scope."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from contracts.api import TokenList, TokenView
from controlplane.database import Database
from controlplane.errors import NotFound
from controlplane.ids import new_token_id
from controlplane.tables import TokenRow, utcnow

TokenKind = Literal["admin", "agent", "run"]


def new_secret() -> str:
    """A fresh random token secret."""
    return secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the kind of the token and, for run tokens, the one run it may write to."""

    token_id: str
    kind: TokenKind
    run_id: str | None = None


class TokenStore:
    """Creates and verifies tokens; secrets are never stored, only their hashes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        kind: TokenKind,
        name: str,
        *,
        run_id: str | None = None,
        attempt: int | None = None,
        expires_in_s: float | None = None,
    ) -> tuple[str, str]:
        """Store a new token; returns (id, secret). The secret is not recoverable afterwards."""
        secret = new_secret()
        token_id = new_token_id()
        expires_at = utcnow() + timedelta(seconds=expires_in_s) if expires_in_s is not None else None
        with self._db.write() as session:
            session.add(
                TokenRow(
                    id=token_id,
                    kind=kind,
                    name=name,
                    token_hash=hash_token(secret),
                    run_id=run_id,
                    attempt=attempt,
                    expires_at=expires_at,
                )
            )
        return token_id, secret

    def verify(self, secret: str) -> Principal | None:
        """The principal a secret belongs to, or None (unknown, expired or revoked)."""
        checked = self.check(secret)
        return checked if isinstance(checked, Principal) else None

    def check(self, secret: str) -> Principal | str:
        """The principal a secret belongs to, or why it is refused ("invalid token", "token expired", ...)."""
        with self._db.read() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == hash_token(secret))).first()
            if row is None:
                return "invalid token"
            if row.revoked_at is not None:
                return "token revoked"
            if row.expires_at is not None and row.expires_at <= utcnow():
                return "token expired"
            kind: TokenKind = row.kind  # type: ignore[assignment]
            return Principal(token_id=row.id, kind=kind, run_id=row.run_id)

    def get(self, token_id: str) -> TokenView:
        """One token (never its secret); NotFound otherwise."""
        with self._db.read() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"token '{token_id}' does not exist")
            return _view(row)

    def list(self, kinds: tuple[str, ...] = ("admin", "agent")) -> TokenList:
        """Tokens of the given kinds, oldest first (run tokens are the control plane's own business)."""
        with self._db.read() as session:
            query = select(TokenRow).where(TokenRow.kind.in_(kinds)).order_by(TokenRow.created_at, TokenRow.id)
            return TokenList(tokens=[_view(row) for row in session.scalars(query)])

    def revoke(self, token_id: str) -> TokenView:
        """Revoke a token at once (idempotent); NotFound if there is no such token."""
        with self._db.write() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"token '{token_id}' does not exist")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _view(row)

    def has_admin(self) -> bool:
        """True if at least one admin token exists."""
        with self._db.read() as session:
            return session.scalars(select(TokenRow.id).where(TokenRow.kind == "admin").limit(1)).first() is not None

    def ensure(self, kind: TokenKind, name: str, secret: str) -> bool:
        """Store `secret` as a token of `kind` unless its hash is already known; True if it was added."""
        digest = hash_token(secret)
        with self._db.write() as session:
            if session.scalars(select(TokenRow.id).where(TokenRow.token_hash == digest)).first() is not None:
                return False
            session.add(TokenRow(id=new_token_id(), kind=kind, name=name, token_hash=digest))
            return True


def _view(row: TokenRow) -> TokenView:
    return TokenView(
        id=row.id,
        kind=row.kind,
        name=row.name,
        run_id=row.run_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


# ---- FastAPI dependencies -----------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="Admin, agent or run token.")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's principal; 401 when the bearer token is missing or unknown."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    store: TokenStore = request.app.state.services.tokens
    principal = store.check(credentials.credentials)
    if isinstance(principal, str):
        raise _unauthorized(principal)
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]


def require_admin(principal: Authenticated) -> Principal:
    """Only admin tokens pass (user endpoints)."""
    if principal.kind != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"an admin token is required (this token is of kind '{principal.kind}')"
        )
    return principal


def require_agent(principal: Authenticated) -> Principal:
    """Only agent tokens pass (/api/agent/*)."""
    if principal.kind != "agent":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"an agent token is required (this token is of kind '{principal.kind}')"
        )
    return principal


def require_run_writer(principal: Authenticated, run_id: Annotated[str, Path()]) -> Principal:
    """An admin token, or a run token scoped to the run in the path."""
    if principal.kind == "admin" or (principal.kind == "run" and principal.run_id == run_id):
        return principal
    if principal.kind == "run":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this run token belongs to another run")
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"a run token of run {run_id} is required")


AdminOnly = Annotated[Principal, Depends(require_admin)]
AgentOnly = Annotated[Principal, Depends(require_agent)]
RunWriter = Annotated[Principal, Depends(require_run_writer)]
