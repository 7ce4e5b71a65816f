"""Agent endpoints: heartbeats, location and run reports, and run tokens for run workers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from contracts.agent import Ack
from contracts.agents import AgentHeartbeat
from contracts.api import RunTokenRequest, RunTokenResponse
from contracts.locations import LocationReport
from contracts.runs import RunReport
from controlplane.auth import AgentOnly
from controlplane.metrics import AGENT_REPORTS
from controlplane.services import ServicesDep

router = APIRouter(prefix="/api/agent", tags=["agent"])


@router.put("/heartbeat")
def heartbeat(beat: AgentHeartbeat, services: ServicesDep, agent: AgentOnly) -> Ack:
    """Record that this agent process is alive (every few seconds) and what it runs."""
    services.agents.heartbeat(beat, agent.scope)
    return Ack()


@router.put("/locations/{name}/report")
async def report_location(name: str, report: LocationReport, services: ServicesDep, agent: AgentOnly) -> Ack:
    """Store a location's status (and definitions) if the report is newer than the last one applied; its
    schedules and sensors then follow its definitions (in the background)."""
    applied = await run_in_threadpool(services.locations.apply_report, name, report, agent.scope)
    AGENT_REPORTS.labels("location", report.status.value, str(applied).lower()).inc()
    if applied:
        services.automation_sync.kick(name)
    return Ack(applied=applied)


@router.put("/runs/{run_id}/report")
async def report_run(run_id: str, report: RunReport, services: ServicesDep, agent: AgentOnly) -> Ack:
    """Store a run's status if newer and allowed (terminal never changes; CANCELING only to terminal)."""
    applied = await run_in_threadpool(services.runs.apply_report, run_id, report, agent.scope)
    AGENT_REPORTS.labels("run", report.status.value, str(applied).lower()).inc()
    if applied and report.status.is_terminal:
        services.waiters.finished(run_id)
    return Ack(applied=applied)


@router.post("/runs/{run_id}/token")
def create_run_token(
    run_id: str, services: ServicesDep, agent: AgentOnly, body: RunTokenRequest | None = None
) -> RunTokenResponse:
    """The agent starts attempt N: the run becomes STARTING (attempt N) and gets a token for that worker only."""
    request = body or RunTokenRequest()
    attempt = request.attempt
    token, secret = services.tokens.new_run_token(run_id, attempt)
    services.runs.mark_starting(run_id, attempt, agent.scope, request.compute_logs, token=token)
    return RunTokenResponse(token=secret)
