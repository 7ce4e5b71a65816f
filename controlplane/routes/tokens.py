"""POST /api/tokens: admins create admin and agent tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from contracts.api import TokenCreate, TokenCreated
from controlplane.services import ServicesDep
from controlplane.tokens import AdminOnly

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, services: ServicesDep, _: AdminOnly) -> TokenCreated:
    """Create an admin or agent token; the secret is returned once and stored only as a hash."""
    token_id, secret = services.tokens.create(body.kind, body.name)
    return TokenCreated(id=token_id, kind=body.kind, name=body.name, token=secret)
