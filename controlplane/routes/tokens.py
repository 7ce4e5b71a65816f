"""Tokens: admins create admin and agent tokens (optionally expiring), list them and revoke them."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import TokenCreate, TokenCreated, TokenList, TokenRotate
from controlplane.audit import Action
from controlplane.auth import AdminOnly
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, services: ServicesDep, who: AdminOnly) -> TokenCreated:
    """Create a user token of a role (viewer, launcher, editor, admin) or an agent token; the secret is returned
    once and stored only as a hash."""
    token_id, secret = services.tokens.create(
        body.kind, body.name, expires_in_s=body.expires_in_s, queues=body.queues, role=body.role
    )
    view = services.tokens.get(token_id)
    services.audit.record(who, Action.token_created, token_id, f"{body.kind} {view.role or ''} {body.name!r}")
    return TokenCreated(
        id=token_id,
        kind=body.kind,
        name=body.name,
        token=secret,
        queues=body.queues,
        role=view.role,
        expires_at=view.expires_at,
    )


@router.get("")
def list_tokens(services: ServicesDep, _: AdminOnly) -> TokenList:
    """User and agent tokens (ids, names, expiry, revocation; never a secret)."""
    return services.tokens.list()


@router.post("/{token_id}/rotate", status_code=status.HTTP_201_CREATED)
def rotate_token(token_id: str, services: ServicesDep, who: AdminOnly, body: TokenRotate | None = None) -> TokenCreated:
    """A new token in place of this one (same kind, name, queues, role); the old one expires after the overlap."""
    view, secret = services.tokens.rotate(token_id, (body or TokenRotate()).overlap_s)
    services.audit.record(who, Action.token_rotated, token_id, f"replaced by {view.id}")
    return TokenCreated(
        id=view.id,
        kind=view.kind,
        name=view.name,
        token=secret,
        queues=view.queues,
        role=view.role,
        expires_at=view.expires_at,
    )


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, services: ServicesDep, who: AdminOnly) -> Response:
    """Revoke a token: from now on it gets 401 "token revoked". Idempotent; 404 for an unknown id."""
    view = await run_in_threadpool(services.tokens.revoke, token_id)
    await services.audit.note(who, Action.token_revoked, token_id, f"{view.kind} {view.name!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
