"""The FastAPI application: routers, lifespan (storage + Temporal client) and uniform {"detail": ...} errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.api import ErrorBody
from contracts.codec import EncryptionCodec
from controlplane import codec_server, limits, metrics, web
from controlplane.database import Database
from controlplane.errors import ControlPlaneError
from controlplane.links import TemporalLinks
from controlplane.location_store import LocationStore
from controlplane.routes import agent, ingest, locations, runs, tokens
from controlplane.run_store import RunStore
from controlplane.run_waiters import RunWaiters
from controlplane.services import Services
from controlplane.settings import ControlPlaneSettings
from controlplane.temporal_gateway import TemporalGateway
from controlplane.tokens import TokenStore

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 3
# What FastAPI answers (400) when it cannot decode a body at all.
FASTAPI_BODY_ERROR = "There was an error parsing the body"


class Health(BaseModel):
    """Liveness of the API."""

    status: str = "ok"


def _field_path(loc: Sequence[Any]) -> str:
    parts = list(loc)
    where = ""
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        where = f"{parts.pop(0)} parameter "
    elif parts and parts[0] == "body":
        parts.pop(0)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return where + (path or "request body")


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable line from pydantic/FastAPI validation errors (never echoing the input values)."""
    messages = []
    for error in errors[:MAX_LISTED_ERRORS]:
        if error.get("type") == "json_invalid":
            messages.append(f"request body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})")
            continue
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",):
            messages.append("a JSON request body is required")
            continue
        messages.append(f"{_field_path(error.get('loc', ()))}: {message}")
    extra = len(errors) - MAX_LISTED_ERRORS
    suffix = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra > 0 else ""
    return "invalid request: " + "; ".join(messages) + suffix


def _error(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=status_code, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ControlPlaneError)
    async def _domain(_: Request, exc: ControlPlaneError) -> JSONResponse:
        return _error(exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, describe_validation_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == FASTAPI_BODY_ERROR:
            # A body that is not even text (invalid UTF-8): the same answer as any other body that is not JSON.
            return _error(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid request: request body is not valid JSON (not UTF-8)"
            )
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error; see the control-plane log")


def create_app(settings: ControlPlaneSettings | None = None) -> FastAPI:
    """The control-plane app; storage and the Temporal client are set up by its lifespan."""
    settings = settings or ControlPlaneSettings()
    # Raises KeyConfigError at once: a control plane that cannot encrypt must not start.
    keys = settings.keyring()
    links = TemporalLinks(settings.temporal_ui_url, settings.temporal_namespace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        await run_in_threadpool(db.create_schema)
        temporal = await TemporalGateway.connect(
            settings.temporal_address,
            settings.temporal_namespace,
            update_timeout_s=settings.temporal_update_timeout_s,
            keys=keys,
        )
        app.state.services = Services(
            settings=settings,
            db=db,
            tokens=TokenStore(db),
            locations=LocationStore(db, links),
            runs=RunStore(db, links, run_token_grace_s=settings.run_token_grace_s),
            temporal=temporal,
            waiters=RunWaiters(),
        )
        try:
            yield
        finally:
            db.dispose()

    app = FastAPI(
        title="Longshoreman control plane",
        version="0.1.0",
        description="Code locations, runs, their events and logs; steers the agent's Temporal workflows.",
        lifespan=lifespan,
        responses={
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            404: {"model": ErrorBody},
            409: {"model": ErrorBody},
            413: {"model": ErrorBody},
            422: {"model": ErrorBody},
            503: {"model": ErrorBody},
        },
    )
    _install_error_handlers(app)
    app.state.codec = EncryptionCodec(keys) if keys is not None else None
    app.add_middleware(codec_server.CodecCORS, settings=settings)
    app.add_middleware(metrics.RequestMetrics)
    # Outermost: an oversized body is refused before any other layer reads it.
    app.add_middleware(limits.BodyLimit, max_bytes=settings.max_request_bytes)

    @app.get("/api/health", tags=["health"])
    def health() -> Health:
        """Liveness (no auth)."""
        return Health()

    for module in (tokens, locations, runs, ingest, agent, codec_server, metrics):
        app.include_router(module.router)
    app.include_router(web.router)
    return app
