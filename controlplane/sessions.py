"""Browser sessions: a sign-in with a token becomes a server-side session behind an HttpOnly cookie.

The token itself never reaches the browser's storage or a cookie: the cookie holds a random session id (only
its sha256 is stored), the session points at the token it was opened with (revoking or expiring the token
ends its sessions), and every state-changing request made with the cookie must carry the session's CSRF
token in `X-CSRF-Token`. The Temporal Web UI's calls to the codec endpoint ride on the same cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from controlplane.database import Database
from controlplane.tables import SessionRow, TokenRow, utcnow
from controlplane.tokens import Principal, TokenStore, hash_token

COOKIE = "longshoreman_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    """An open session: who it acts as, its CSRF token and when it ends."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


class SessionStore:
    """Opens, resolves and closes sessions."""

    def __init__(self, db: Database, tokens: TokenStore, ttl_s: float) -> None:
        self._db = db
        self._tokens = tokens
        self._ttl = timedelta(seconds=ttl_s)

    def open(self, principal: Principal) -> tuple[str, Session]:
        """A new session acting as `principal`; returns (cookie value, session). It ends no later than its token."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = utcnow()
        with self._db.write() as db:
            token = db.get_one(TokenRow, principal.token_id)
            expires_at = now + self._ttl
            if token.expires_at is not None:
                expires_at = min(expires_at, token.expires_at)
            db.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            db.add(
                SessionRow(
                    id_hash=hash_token(session_id),
                    token_id=principal.token_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return session_id, Session(principal=principal, csrf_token=csrf, expires_at=expires_at)

    def resolve(self, session_id: str) -> Session | str:
        """The session behind a cookie value, or why there is none ("session expired", "token revoked", ...)."""
        with self._db.read() as db:
            row = db.scalars(select(SessionRow).where(SessionRow.id_hash == hash_token(session_id))).first()
            if row is None:
                return "no such session (signed out, or never signed in)"
            if row.expires_at <= utcnow():
                return "session expired: sign in again"
            token_id, csrf, expires_at = row.token_id, row.csrf_token, row.expires_at
        principal = self._tokens.principal_of(token_id)
        if isinstance(principal, str):
            return f"session ended: {principal}"
        return Session(principal=principal, csrf_token=csrf, expires_at=expires_at)

    def close(self, session_id: str) -> None:
        """End a session (idempotent)."""
        with self._db.write() as db:
            db.execute(delete(SessionRow).where(SessionRow.id_hash == hash_token(session_id)))


def csrf_matches(session: Session, presented: str | None) -> bool:
    """True if the request carries the session's CSRF token (compared in constant time)."""
    return presented is not None and hmac.compare_digest(session.csrf_token.encode(), presented.encode())
