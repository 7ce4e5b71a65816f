"""The agents, as the control plane sees them: status, queue, launchers, version, what they run, last errors."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from contracts.agents import AgentList
from controlplane.auth import Viewer
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.get("")
async def list_agents(services: ServicesDep, _: Viewer) -> AgentList:
    """Agents seen within a day: AVAILABLE, NOT_POLLING (Temporal sees no poller on its queue), UNAVAILABLE
    (silent for longer than AGENT_TIMEOUT_S) or STOPPED."""
    return await run_in_threadpool(services.agents.list, dict(services.liveness.pollers))
