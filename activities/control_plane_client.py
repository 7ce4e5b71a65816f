"""HTTP client the agent's activities use to send metadata to the control plane (outbound only)."""

from __future__ import annotations

from typing import TypeVar

import httpx
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from contracts.agent import Ack
from contracts.agents import AgentHeartbeat
from contracts.api import RunTokenRequest, RunTokenResponse, RunWaitResult
from contracts.automations import AutomationRunsRequest, AutomationRunsResult, TickReport
from contracts.compute_logs import ComputeLogs
from contracts.locations import LocationReport
from contracts.runs import RunReport

# A retry cannot fix these: the request itself is wrong. 401/403 are retried: an operator can fix a token.
ModelT = TypeVar("ModelT", bound=BaseModel)

FINAL_STATUSES = frozenset({400, 404, 405, 410, 413, 422})


class ControlPlaneClient:
    """Reports location and run status, and fetches per-run tokens; every call is idempotent."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    async def report_location(self, report: LocationReport) -> Ack:
        """Send a location's status (and definitions) to the control plane."""
        return await self._send("PUT", f"/api/agent/locations/{report.name}/report", report, Ack)

    async def report_run(self, report: RunReport) -> Ack:
        """Send a run's status to the control plane."""
        return await self._send("PUT", f"/api/agent/runs/{report.run_id}/report", report, Ack)

    async def heartbeat(self, beat: AgentHeartbeat) -> Ack:
        """Tell the control plane this agent is alive and what it runs."""
        return await self._send("PUT", "/api/agent/heartbeat", beat, Ack)

    async def launch_automation_runs(
        self, location: str, automation: str, request: AutomationRunsRequest
    ) -> AutomationRunsResult:
        """Launch the runs of one tick of an automation (each idempotent by its key)."""
        path = f"/api/agent/automations/{location}/{automation}/runs"
        return await self._send("POST", path, request, AutomationRunsResult)

    async def report_tick(self, location: str, automation: str, report: TickReport) -> Ack:
        """Tell the control plane how a tick went."""
        path = f"/api/agent/automations/{location}/{automation}/ticks/{report.tick_id}"
        return await self._send("PUT", path, report, Ack)

    async def wait_run(self, run_id: str, timeout_s: float) -> bool:
        """Long-poll a run: True once it is final, False if it was not within `timeout_s`."""
        path, params = f"/api/agent/runs/{run_id}/wait", {"timeout_s": timeout_s}
        answer = await self._send("GET", path, None, RunWaitResult, params=params, timeout_s=timeout_s + 10)
        return answer.final

    async def run_token(self, run_id: str, attempt: int, compute_logs: ComputeLogs | None = None) -> str:
        """A fresh token scoped to one run, handed to its worker through the environment only; the control plane
        learns where the attempt's logs are kept at the same time."""
        body = RunTokenRequest(attempt=attempt, compute_logs=compute_logs)
        response = await self._send("POST", f"/api/agent/runs/{run_id}/token", body, RunTokenResponse)
        return response.token

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        result: type[ModelT],
        params: dict[str, float] | None = None,
        timeout_s: float | None = None,
    ) -> ModelT:
        try:
            response = await self._http.request(
                method,
                path,
                content=body.model_dump_json() if body is not None else None,
                headers={"Content-Type": "application/json"},
                params=params,
                timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as err:
            raise ApplicationError(
                f"control plane unreachable ({method} {path}): {err!r}", type="ControlPlaneDown"
            ) from err
        if response.status_code >= 400:
            detail = _detail(response)
            raise ApplicationError(
                f"control plane answered {response.status_code} to {method} {path}: {detail}",
                type=f"ControlPlaneHTTP{response.status_code}",
                non_retryable=response.status_code in FINAL_STATUSES,
            )
        return result.model_validate_json(response.content)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:500]
    except ValueError:
        return response.text[:500]
