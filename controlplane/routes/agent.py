"""Agent endpoints: location and run reports, and run tokens for run workers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from contracts.agent import Ack
from contracts.api import RunTokenRequest, RunTokenResponse
from contracts.locations import LocationReport
from contracts.runs import RunReport
from controlplane.metrics import AGENT_REPORTS
from controlplane.services import ServicesDep
from controlplane.tokens import AgentOnly

router = APIRouter(prefix="/api/agent", tags=["agent"])


@router.put("/locations/{name}/report")
def report_location(name: str, report: LocationReport, services: ServicesDep, _: AgentOnly) -> Ack:
    """Store a location's status (and definitions) if the report is newer than the last one applied."""
    applied = services.locations.apply_report(name, report)
    AGENT_REPORTS.labels("location", report.status.value, str(applied).lower()).inc()
    return Ack(applied=applied)


@router.put("/runs/{run_id}/report")
async def report_run(run_id: str, report: RunReport, services: ServicesDep, _: AgentOnly) -> Ack:
    """Store a run's status if newer and allowed (terminal never changes; CANCELING only to terminal)."""
    applied = await run_in_threadpool(services.runs.apply_report, run_id, report)
    AGENT_REPORTS.labels("run", report.status.value, str(applied).lower()).inc()
    if applied and report.status.is_terminal:
        services.waiters.finished(run_id)
    return Ack(applied=applied)


@router.post("/runs/{run_id}/token")
def create_run_token(
    run_id: str, services: ServicesDep, _: AgentOnly, body: RunTokenRequest | None = None
) -> RunTokenResponse:
    """The agent starts attempt N: the run becomes STARTING (attempt N) and gets a token for that worker only."""
    attempt = (body or RunTokenRequest()).attempt
    services.runs.mark_starting(run_id, attempt)
    _token_id, secret = services.tokens.create("run", f"run {run_id} attempt {attempt}", run_id=run_id, attempt=attempt)
    return RunTokenResponse(token=secret)
