"""API tokens: creation, sha256 storage and verification (controlplane/auth.py enforces kind and scope)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contracts.api import TokenList, TokenView
from contracts.roles import Role
from controlplane.database import Database, lock_row
from controlplane.errors import Conflict, NotFound
from controlplane.ids import new_token_id
from controlplane.scopes import ANY_QUEUE, QueueScope
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
    """Who is calling: the kind of the token; for run tokens the one run it may write to, for agent tokens the
    task queues it serves, for user ("admin" kind) tokens their role."""

    token_id: str
    kind: TokenKind
    run_id: str | None = None
    scope: QueueScope = ANY_QUEUE
    role: Role | None = None
    name: str = ""


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
        queues: list[str] | None = None,
        role: Role | None = None,
    ) -> tuple[str, str]:
        """Store a new token; returns (id, secret). The secret is not recoverable afterwards.

        A user ("admin" kind) token is an admin unless `role` says otherwise; other kinds have no role."""
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
                    queues=queues,
                    role=(role or Role.admin).value if kind == "admin" else None,
                    expires_at=expires_at,
                )
            )
        return token_id, secret

    @staticmethod
    def new_run_token(run_id: str, attempt: int) -> tuple[TokenRow, str]:
        """A token for one run attempt's worker, not stored yet: (its row, its secret).

        The run store adds the row in the transaction that marks the attempt STARTING (RunStore.mark_starting),
        so a launch costs one write transaction instead of two."""
        secret = new_secret()
        row = TokenRow(
            id=new_token_id(),
            kind="run",
            name=f"run {run_id} attempt {attempt}",
            token_hash=hash_token(secret),
            run_id=run_id,
            attempt=attempt,
        )
        return row, secret

    def verify(self, secret: str) -> Principal | None:
        """The principal a secret belongs to, or None (unknown, expired or revoked)."""
        checked = self.check(secret)
        return checked if isinstance(checked, Principal) else None

    def check(self, secret: str) -> Principal | str:
        """The principal a secret belongs to, or why it is refused ("invalid token", "token expired", ...)."""
        with self._db.read() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == hash_token(secret))).first()
            return _principal(row) if row is not None else "invalid token"

    def principal_of(self, token_id: str) -> Principal | str:
        """The principal of the token with this id (a session's), or why it no longer acts ("token revoked")."""
        with self._db.read() as session:
            row = session.get(TokenRow, token_id)
            return _principal(row) if row is not None else "token deleted"

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
            row = lock_row(session, TokenRow, token_id)
            if row is None:
                raise NotFound(f"token '{token_id}' does not exist")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _view(row)

    def rotate(self, token_id: str, overlap_s: float) -> tuple[TokenView, str]:
        """A new token like `token_id` (kind, name, queues, lifetime); the old one expires after `overlap_s`.

        Returns the new token's view and its secret. NotFound for an unknown or run token, Conflict for one
        already revoked or expired.
        """
        now = utcnow()
        secret = new_secret()
        with self._db.write() as session:
            old = lock_row(session, TokenRow, token_id)
            if old is None or old.kind not in ("admin", "agent"):
                raise NotFound(f"token '{token_id}' does not exist")
            refused = _principal(old)
            if isinstance(refused, str):
                raise Conflict(f"token '{token_id}' cannot be rotated: {refused}")
            lifetime = old.expires_at - old.created_at if old.expires_at is not None else None
            new = TokenRow(
                id=new_token_id(),
                kind=old.kind,
                name=old.name,
                token_hash=hash_token(secret),
                queues=old.queues,
                role=old.role,
                created_at=now,
                expires_at=now + lifetime if lifetime is not None else None,
            )
            session.add(new)
            overlap_end = now + timedelta(seconds=overlap_s)
            old.expires_at = min(old.expires_at, overlap_end) if old.expires_at is not None else overlap_end
            session.flush()
            return _view(new), secret

    def has_admin(self) -> bool:
        """True if at least one admin token exists."""
        with self._db.read() as session:
            return session.scalars(select(TokenRow.id).where(TokenRow.kind == "admin").limit(1)).first() is not None

    def ensure(self, kind: TokenKind, name: str, secret: str) -> bool:
        """Store `secret` as a token of `kind` unless its hash is already known; True if it was added."""
        digest = hash_token(secret)
        try:
            with self._db.write() as session:
                if session.scalars(select(TokenRow.id).where(TokenRow.token_hash == digest)).first() is not None:
                    return False
                role = Role.admin.value if kind == "admin" else None
                session.add(TokenRow(id=new_token_id(), kind=kind, name=name, token_hash=digest, role=role))
            return True
        except IntegrityError:
            # PostgreSQL: a replica starting at the same moment stored the same token first.
            return False


def _principal(row: TokenRow) -> Principal | str:
    if row.revoked_at is not None:
        return "token revoked"
    if row.expires_at is not None and row.expires_at <= utcnow():
        return "token expired"
    kind: TokenKind = row.kind  # type: ignore[assignment]
    scope = QueueScope(tuple(row.queues)) if row.queues is not None else ANY_QUEUE
    return Principal(token_id=row.id, kind=kind, run_id=row.run_id, scope=scope, role=role_of(row), name=row.name)


def role_of(row: TokenRow) -> Role | None:
    """A user token's role (one stored before roles existed is an admin); None for agent and run tokens."""
    if row.kind != "admin":
        return None
    return Role(row.role) if row.role else Role.admin


def _view(row: TokenRow) -> TokenView:
    return TokenView(
        id=row.id,
        kind=row.kind,
        name=row.name,
        run_id=row.run_id,
        queues=row.queues,
        role=role_of(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
