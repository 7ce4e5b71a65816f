"""The codec server: /codec/encode and /codec/decode (Temporal's remote codec protocol) for authorized users.

Temporal keeps payloads encrypted; the Temporal Web UI and `temporal workflow show --codec-endpoint` send
them here to be decrypted for display. Requests are `{"payloads": [...]}`, Payloads in protobuf JSON (base64
`data` and metadata values), answered in the same shape.

Authentication: an admin token as `Authorization: Bearer <token>` (the Temporal CLI's `--codec-auth`), or the
browser session of someone signed in to the control plane's web page (controlplane/sessions.py): the Temporal
UI can only send an Authorization header with its own OIDC access token (and only over https), so in a
browser it sends the session cookie, with "Include cross-origin credentials". The raw token never sits in a
cookie. CORS (with credentials) is allowed for the Temporal UI's origin only, on /codec/* only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.security import HTTPBearer
from google.protobuf import json_format
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from contracts.roles import Role
from controlplane.auth import session_of
from controlplane.settings import ControlPlaneSettings
from controlplane.tokens import Principal, TokenStore
from runtime.codec import EncryptionCodec, PayloadDecryptionError

PREFIX = "/codec"
MAX_BODY_BYTES = 64 * 1024 * 1024

router = APIRouter(prefix=PREFIX, tags=["codec"])
_bearer = HTTPBearer(auto_error=False, description="Admin token.")


async def _authenticate(request: Request) -> Principal:
    """An admin principal from the bearer token or the browser session; 401/403 otherwise."""
    credentials = await _bearer(request)
    if credentials is not None and credentials.credentials:
        tokens: TokenStore = request.app.state.services.tokens
        principal = await run_in_threadpool(tokens.verify, credentials.credentials)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail="invalid token", headers={"WWW-Authenticate": "Bearer"}
            )
    else:
        session = await session_of(request)
        if session is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="the codec endpoint needs an admin token ('Authorization: Bearer <token>') or a signed-in "
                "browser session of the control plane",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = session.principal
    # Payloads may carry what only admins see (a location's secret environment is sealed apart, but run configs
    # and definitions are not meant for every viewer of the Temporal UI).
    if principal.role is not Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="decoding payloads needs an admin token (role 'admin')")
    return principal


def _codec(request: Request) -> EncryptionCodec:
    codec: EncryptionCodec | None = request.app.state.codec
    if codec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="payload encryption is off: there is nothing to decode")
    return codec


async def _payloads(request: Request) -> Payloads:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="too many payloads in one request")
    try:
        return json_format.Parse(body or b"{}", Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f'expected {{"payloads": [...]}} in protobuf JSON: {err}'
        ) from None


def _answer(payloads: Payloads) -> Response:
    return Response(json_format.MessageToJson(payloads, indent=None), media_type="application/json")


@router.post("/decode")
async def decode(request: Request) -> Response:
    """Decrypt payloads for display (admin)."""
    await _authenticate(request)
    codec, payloads = _codec(request), await _payloads(request)
    try:
        decoded = await codec.decode(payloads.payloads)
    except PayloadDecryptionError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(err)) from None
    return _answer(Payloads(payloads=decoded))


@router.post("/encode")
async def encode(request: Request) -> Response:
    """Encrypt payloads, e.g. a signal argument typed into the Temporal UI (admin)."""
    await _authenticate(request)
    codec, payloads = _codec(request), await _payloads(request)
    return _answer(Payloads(payloads=await codec.encode(payloads.payloads)))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what a browser sends as Origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class CodecCORS:
    """CORS with credentials for the Temporal UI's origin, applied to /codec/* only (the API stays same-origin)."""

    def __init__(self, app: ASGIApp, settings: ControlPlaneSettings) -> None:
        self.app = app
        origins = settings.codec_cors_origins or [origin_of(settings.temporal_ui_url)]
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route /codec/* through the CORS middleware, everything else straight to the app."""
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
