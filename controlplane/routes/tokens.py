"""Tokens: admins create admin and agent tokens (optionally expiring), list them and revoke them."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.api import TokenCreate, TokenCreated, TokenList
from controlplane.services import ServicesDep
from controlplane.tokens import AdminOnly

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, services: ServicesDep, _: AdminOnly) -> TokenCreated:
    """Create an admin or agent token; the secret is returned once and stored only as a hash."""
    token_id, secret = services.tokens.create(body.kind, body.name, expires_in_s=body.expires_in_s)
    expires_at = services.tokens.get(token_id).expires_at
    return TokenCreated(id=token_id, kind=body.kind, name=body.name, token=secret, expires_at=expires_at)


@router.get("")
def list_tokens(services: ServicesDep, _: AdminOnly) -> TokenList:
    """Admin and agent tokens (ids, names, expiry, revocation; never a secret)."""
    return services.tokens.list()


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, services: ServicesDep, _: AdminOnly) -> Response:
    """Revoke a token: from now on it gets 401 "token revoked". Idempotent; 404 for an unknown id."""
    await run_in_threadpool(services.tokens.revoke, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
