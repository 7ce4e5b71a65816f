"""The FastAPI application: routers, lifespan (storage + Temporal client) and uniform {"detail": ...} errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.api import ErrorBody
from controlplane import codec_server, limits, metrics, ui
from controlplane.agent_store import AgentStore
from controlplane.alerts.activities import AlertActivities
from controlplane.alerts.dispatcher import AlertDispatcher
from controlplane.alerts.event_store import EventStore
from controlplane.alerts.message import AlertLinks
from controlplane.alerts.outbox import ALERT_EVENTS
from controlplane.alerts.policy_store import PolicyStore
from controlplane.alerts.worker import AlertWorker
from controlplane.audit import AuditStore
from controlplane.automation_store import AutomationStore
from controlplane.automation_sync import AutomationSync
from controlplane.dispatcher import Dispatcher
from controlplane.errors import ControlPlaneError
from controlplane.limit_store import LimitStore
from controlplane.links import TemporalLinks
from controlplane.location_store import LocationStore
from controlplane.queue_liveness import QueueLiveness
from controlplane.routes import (
    agent,
    agent_automations,
    agents,
    alerts,
    audit,
    automations,
    ingest,
    locations,
    run_limits,
    runs,
    session,
    tokens,
)
from controlplane.run_monitor import RunMonitor
from controlplane.run_notices import FinishedRunListener
from controlplane.run_queue import RunQueue
from controlplane.run_store import RunStore
from controlplane.run_transitions import SLOTS_FREED
from controlplane.run_waiters import RunWaiters
from controlplane.secret_env import SecretEnvSealer
from controlplane.services import Services
from controlplane.sessions import SessionStore
from controlplane.settings import ControlPlaneSettings
from controlplane.temporal_automations import TemporalAutomations
from controlplane.temporal_gateway import TemporalGateway
from controlplane.tokens import TokenStore
from runtime.codec import EncryptionCodec

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
    links = TemporalLinks(settings.temporal_ui_url, settings.temporal.resolve().namespace)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The schema was checked (or created) before the app started: controlplane/main.py.
        db = settings.database()
        temporal = await TemporalGateway.connect(
            settings.temporal,
            update_timeout_s=settings.temporal_update_timeout_s,
            keys=keys,
        )
        tokens = TokenStore(db)
        sealer = SecretEnvSealer(keys)
        agents = AgentStore(db, settings.agent_timeout_s)
        automation_store = AutomationStore(db)
        alert_policies = PolicyStore(db, keys)
        alert_events = EventStore(db)
        alert_dispatcher = AlertDispatcher(
            alert_policies,
            alert_events,
            temporal,
            task_queue=settings.alerts_task_queue,
            retry_period_s=settings.alert_retry_period_s,
            retry_max_interval_s=settings.alert_retry_max_interval_s,
            sweep_interval_s=settings.alert_sweep_interval_s,
            agent_check_interval_s=settings.alert_agent_check_interval_s,
            history_days=settings.alert_history_days,
        )
        # An alert event is dispatched right after the commit that stored it (controlplane/alerts/outbox.py).
        db.listen(ALERT_EVENTS, alert_dispatcher.kick)
        temporal_automations = TemporalAutomations(temporal, settings.automation_evaluation_timeout_s)
        queue = RunQueue(db, sealer, run_token_grace_s=settings.run_token_grace_s)
        dispatcher = Dispatcher(queue, temporal)
        dispatcher.attach(asyncio.get_running_loop())
        # Whatever ends a run frees its slots in the same transaction; right after the commit, we dequeue.
        db.listen(SLOTS_FREED, dispatcher.kick)
        services = app.state.services = Services(
            settings=settings,
            db=db,
            tokens=tokens,
            sessions=SessionStore(db, tokens, settings.session_ttl_s),
            locations=LocationStore(db, sealer, links),
            runs=RunStore(db, sealer, links, run_token_grace_s=settings.run_token_grace_s),
            queue=queue,
            limits=LimitStore(db),
            dispatcher=dispatcher,
            agents=agents,
            liveness=QueueLiveness(agents, temporal),
            temporal=temporal,
            waiters=RunWaiters(),
            automations=automation_store,
            temporal_automations=temporal_automations,
            automation_sync=AutomationSync(automation_store, temporal_automations),
            alert_policies=alert_policies,
            alert_events=alert_events,
            alert_dispatcher=alert_dispatcher,
            audit=AuditStore(db),
        )
        tasks = [
            asyncio.create_task(RunMonitor(services, settings.run_monitor_interval_s).run_forever()),
            asyncio.create_task(services.automation_sync.run_forever(settings.automation_sync_interval_s)),
            asyncio.create_task(alert_dispatcher.run_forever()),
        ]
        if settings.alerts_worker:
            activities = AlertActivities(
                alert_policies,
                alert_events,
                services.locations,
                temporal,
                AlertLinks(settings.links_base(), links),
                agent_timeout_s=settings.agent_timeout_s,
                channel_timeout_s=settings.alert_channel_timeout_s,
            )
            worker = AlertWorker(settings.temporal, keys, settings.alerts_task_queue, activities)
            tasks.append(asyncio.create_task(worker.run_forever()))
        if db.is_postgres:
            tasks.append(asyncio.create_task(FinishedRunListener(db, services.waiters).run_forever()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.automation_sync.aclose()
            await dispatcher.close()
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

    routers = (
        session,
        tokens,
        locations,
        runs,
        run_limits,
        automations,
        ingest,
        agent,
        agent_automations,
        agents,
        alerts,
        audit,
    )
    for module in (*routers, codec_server, metrics):
        app.include_router(module.router)
    app.include_router(ui.router)
    return app
