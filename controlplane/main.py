"""`python -m controlplane`: check the database's schema, bootstrap the admin token, then serve the API."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from datetime import timedelta

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from controlplane import schema
from controlplane.app import create_app
from controlplane.database import DatabaseConfigError, database_url, describe_error
from controlplane.settings import ControlPlaneSettings
from controlplane.tokens import TokenStore
from runtime.codec import KeyConfigError
from runtime.converter import data_converter
from runtime.log_format import configure_logging
from runtime.settings import settings_error
from runtime.temporal_connection import TemporalConfigError, exit_refusing

log = logging.getLogger("controlplane")
PREFIX = "longshoreman control plane"


def prepare_database(settings: ControlPlaneSettings) -> str | None:
    """Check the database's schema (an empty database gets it, see controlplane/schema.py) and make sure an admin
    token exists; returns a newly generated secret (to be shown once) or None.

    With LONGSHOREMAN_ADMIN_TOKEN set, that token is stored (hashed) if not yet known; otherwise one is generated
    only when no admin token exists at all. Raises DatabaseConfigError, SchemaError or SQLAlchemyError.
    """
    db = settings.database()
    try:
        if schema.prepare(db):
            log.info("created the database schema at revision %s", schema.head_revision())
        tokens = TokenStore(db)
        if settings.admin_token is not None:
            if tokens.ensure("admin", "bootstrap", settings.admin_token.get_secret_value()):
                log.info("stored the admin token given in LONGSHOREMAN_ADMIN_TOKEN")
            return None
        if tokens.has_admin():
            return None
        _, secret = tokens.create("admin", "initial")
        return secret
    finally:
        db.dispose()


async def _check_temporal(settings: ControlPlaneSettings) -> None:
    """Connect to Temporal once before serving: wrong settings stop the start with one line (TemporalConfigError).

    Later the API stays up while Temporal is down (its client reconnects); only a start needs it reachable.
    """
    client = await settings.temporal.connect(data_converter(None))
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=10))
    log.info("Temporal at %s answers", settings.temporal.describe())
    del client
    gc.collect()  # dropped here, not at interpreter shutdown (which the SDK's threads do not survive)


def refuse(message: str) -> SystemExit:
    """Print why the control plane cannot start, as one line on stderr; the exit to raise."""
    print(f"{PREFIX}: {message}".splitlines()[0], file=sys.stderr)
    return SystemExit(2)


def main() -> None:
    """Entry point of the control-plane process."""
    try:
        settings = ControlPlaneSettings()
    except (ValidationError, FileNotFoundError) as err:
        raise refuse(f"invalid configuration: {settings_error(err)}") from err
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = create_app(settings)
        # Temporal before the database: a wrong connection setting stops the start with nothing written.
        asyncio.run(_check_temporal(settings))
    except (KeyConfigError, TemporalConfigError) as err:
        exit_refusing(f"{PREFIX}: invalid configuration: {err}")
    try:
        secret = prepare_database(settings)
    except DatabaseConfigError as err:
        raise refuse(f"invalid configuration: {err}") from err
    except schema.SchemaError as err:
        raise refuse(str(err)) from err
    except SQLAlchemyError as err:
        raise refuse(describe_error(database_url(settings.database_url), err)) from err
    if secret is not None:
        # Printed once, to stdout only (never logged): only its hash is kept.
        print(f"Admin token (shown only this once, keep it safe): {secret}", flush=True)
    print(f"Longshoreman control plane on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        # Our root handler formats uvicorn's lines too (text or JSON, LONGSHOREMAN_LOG_FORMAT).
        log_config=None,
    )
