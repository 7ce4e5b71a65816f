"""The objects every request handler needs, built once per app and reached through a FastAPI dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from controlplane.agent_store import AgentStore
from controlplane.alerts.dispatcher import AlertDispatcher
from controlplane.alerts.event_store import EventStore
from controlplane.alerts.policy_store import PolicyStore
from controlplane.audit import AuditStore
from controlplane.automation_store import AutomationStore
from controlplane.automation_sync import AutomationSync
from controlplane.database import Database
from controlplane.dispatcher import Dispatcher
from controlplane.limit_store import LimitStore
from controlplane.location_store import LocationStore
from controlplane.queue_liveness import QueueLiveness
from controlplane.run_queue import RunQueue
from controlplane.run_store import RunStore
from controlplane.run_waiters import RunWaiters
from controlplane.sessions import SessionStore
from controlplane.settings import ControlPlaneSettings
from controlplane.temporal_automations import TemporalAutomations
from controlplane.temporal_gateway import TemporalGateway
from controlplane.tokens import TokenStore


@dataclass
class Services:
    """Settings, storage and the Temporal gateway of one running app."""

    settings: ControlPlaneSettings
    db: Database
    tokens: TokenStore
    sessions: SessionStore
    locations: LocationStore
    runs: RunStore
    queue: RunQueue
    limits: LimitStore
    dispatcher: Dispatcher
    agents: AgentStore
    liveness: QueueLiveness
    temporal: TemporalGateway
    waiters: RunWaiters
    automations: AutomationStore
    temporal_automations: TemporalAutomations
    automation_sync: AutomationSync
    alert_policies: PolicyStore
    alert_events: EventStore
    alert_dispatcher: AlertDispatcher
    audit: AuditStore


def get_services(request: Request) -> Services:
    """The app's services (set up by the lifespan)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
