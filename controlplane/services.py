"""The objects every request handler needs, built once per app and reached through a FastAPI dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from controlplane.database import Database
from controlplane.location_store import LocationStore
from controlplane.run_store import RunStore
from controlplane.run_waiters import RunWaiters
from controlplane.settings import ControlPlaneSettings
from controlplane.temporal_gateway import TemporalGateway
from controlplane.tokens import TokenStore


@dataclass
class Services:
    """Settings, storage and the Temporal gateway of one running app."""

    settings: ControlPlaneSettings
    db: Database
    tokens: TokenStore
    locations: LocationStore
    runs: RunStore
    temporal: TemporalGateway
    waiters: RunWaiters


def get_services(request: Request) -> Services:
    """The app's services (set up by the lifespan)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
