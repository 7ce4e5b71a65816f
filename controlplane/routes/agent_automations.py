"""Agent endpoints of automations: launch a tick's runs, record the tick, wait for a run to end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from contracts.agent import Ack
from contracts.api import RunWaitResult
from contracts.automations import (
    AUTOMATION_TAG,
    BACKFILL_TAG,
    TICK_TAG,
    AutomationRun,
    AutomationRunsRequest,
    AutomationRunsResult,
    AutomationView,
    TickReport,
)
from contracts.run_protocol import set_by_longshoreman_only
from contracts.runs import RunRequest
from controlplane import run_launches
from controlplane.auth import AgentOnly
from controlplane.errors import ControlPlaneError, Invalid, Unavailable
from controlplane.scopes import QueueScope
from controlplane.services import Services, ServicesDep

router = APIRouter(prefix="/api/agent", tags=["agent"])
MAX_WAIT_S = 60.0


async def _automation(services: Services, location: str, name: str, scope: QueueScope) -> AutomationView:
    view = await run_in_threadpool(services.automations.get, location, name)
    queue = await run_in_threadpool(services.automations.queue_of, location)
    scope.check(queue, f"code location '{location}'")
    return view


def run_request(view: AutomationView, body: AutomationRunsRequest, run: AutomationRun) -> RunRequest:
    """The run one request of a tick asks for, tagged with where it came from (tags users cannot set)."""
    tags = {key: value for key, value in run.tags.items() if not set_by_longshoreman_only(key)}
    tags[AUTOMATION_TAG] = f"{view.location}/{view.name}"
    tags[TICK_TAG] = body.tick_id
    if body.backfill_id is not None:
        tags[BACKFILL_TAG] = body.backfill_id
    return RunRequest(
        location=view.location, job=view.job, config=run.config, tags=tags, idempotency_key=run.idempotency_key
    )


@router.post("/automations/{location}/{name}/runs")
async def launch_automation_runs(
    location: str, name: str, body: AutomationRunsRequest, services: ServicesDep, agent: AgentOnly
) -> AutomationRunsResult:
    """Launch a tick's runs (each idempotent by its key); a request refused for its content is an error of the
    tick, while Temporal being unreachable is a 503 the agent retries."""
    view = await _automation(services, location, name, agent.scope)
    if view.kind is not body.kind:
        raise Invalid(f"'{location}/{name}' is a {view.kind}, not a {body.kind}")
    result = AutomationRunsResult()
    for index, run in enumerate(body.runs):
        try:
            launched = await run_launches.launch_run(services, run_request(view, body, run))
        except ValidationError as err:
            result.errors.append(f"run request {index}: {err.errors()[0]['msg']}")
            continue
        except Unavailable:
            raise
        except ControlPlaneError as err:
            result.errors.append(f"run request {index}: {err.message}")
            continue
        result.run_ids.append(launched.run.id)
    return result


@router.put("/automations/{location}/{name}/ticks/{tick_id}")
async def report_tick(
    location: str, name: str, tick_id: str, report: TickReport, services: ServicesDep, agent: AgentOnly
) -> Ack:
    """Record how a tick went (once: a retried report of the same tick changes nothing)."""
    if report.tick_id != tick_id:
        raise Invalid(f"report is about tick '{report.tick_id}' but was sent for '{tick_id}'")
    await _automation(services, location, name, agent.scope)
    applied = await run_in_threadpool(services.automations.add_tick, location, name, report)
    return Ack(applied=applied)


@router.get("/runs/{run_id}/wait")
async def wait_for_run(
    run_id: str,
    services: ServicesDep,
    agent: AgentOnly,
    timeout_s: Annotated[float, Query(gt=0, le=MAX_WAIT_S)] = 30.0,
) -> RunWaitResult:
    """Whether the run is final, as soon as it is or after `timeout_s` (a schedule whose runs may not overlap)."""
    run = await run_in_threadpool(services.runs.get, run_id)
    agent.scope.check(run.queue, f"run {run_id}")
    run = await run_launches.wait_until_final(services, run_id, timeout_s)
    return RunWaitResult(final=run.status.is_terminal, status=run.status)
