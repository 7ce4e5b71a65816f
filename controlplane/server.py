"""`python -m controlplane`: bootstrap the admin token, then serve the API with uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from contracts.codec import KeyConfigError
from contracts.log_format import configure_logging
from controlplane.app import create_app
from controlplane.database import Database
from controlplane.settings import ControlPlaneSettings
from controlplane.tokens import TokenStore

log = logging.getLogger("controlplane")


def bootstrap_admin_token(settings: ControlPlaneSettings) -> str | None:
    """Make sure an admin token exists; returns a newly generated secret (to be shown once) or None.

    With LONGSHOREMAN_ADMIN_TOKEN set, that token is stored (hashed) if not yet known; otherwise one is generated
    only when no admin token exists at all.
    """
    db = Database(settings.database_url)
    try:
        db.create_schema()
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


def main() -> None:
    """Entry point of the control-plane process."""
    try:
        settings = ControlPlaneSettings()
    except (ValidationError, FileNotFoundError) as err:
        print(f"longshoreman control plane: invalid configuration: {err}".splitlines()[0], file=sys.stderr)
        raise SystemExit(2) from err
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = create_app(settings)
    except KeyConfigError as err:
        print(f"longshoreman control plane: invalid configuration: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    secret = bootstrap_admin_token(settings)
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
