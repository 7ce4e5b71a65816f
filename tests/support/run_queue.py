"""Helpers for the run-queue tests: limits through the real API, what is in and out of the queue, Temporal's view."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.support.agent import wait_for

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def limit_path(scope: str) -> str:
    """The API path of one limit."""
    return f"/api/limits/{quote(scope, safe='')}"


def set_limit(api: httpx.Client, scope: str, max_concurrent: int) -> dict[str, Any]:
    """PUT a limit (200 expected); its view."""
    response = api.put(limit_path(scope), json={"max_concurrent": max_concurrent})
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def limit_view(api: httpx.Client, scope: str) -> dict[str, Any] | None:
    """The limit's view in GET /api/limits, or None."""
    limits = api.get("/api/limits").json()["limits"]
    return next((limit for limit in limits if limit["scope"] == scope), None)


def runs(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every run matching `params` (GET /api/runs, one page of up to 1000)."""
    found: list[dict[str, Any]] = api.get("/api/runs", params={"limit": 1000, **params}).json()["runs"]
    return found


def out_of_queue(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Runs that left the run queue and are not final: those holding their slots, oldest dequeue first."""
    live = [run for run in runs(api, **params) if run["dequeued_at"] and run["status"] not in TERMINAL]
    return sorted(live, key=lambda run: run["dequeued_at"])


def waiting(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Runs waiting in the run queue, by queue position."""
    queued = [run for run in runs(api, **params) if run["queue_position"] is not None]
    return sorted(queued, key=lambda run: run["queue_position"])


def report(agent_api: httpx.Client, run_id: str, status: str = "SUCCESS", seq: int = 1) -> None:
    """A (pretend) agent's report about a run."""
    body = {"run_id": run_id, "status": status, "seq": seq, "attempt": 1}
    response = agent_api.put(f"/api/agent/runs/{run_id}/report", json=body)
    assert response.json() == {"applied": True}, response.text


def wait_out(api: httpx.Client, count: int, timeout_s: float = 10.0, **params: Any) -> list[dict[str, Any]]:
    """Wait until exactly `count` runs are out of the queue (holding slots); them."""
    return wait_for(
        lambda: found if len(found := out_of_queue(api, **params)) == count else None,
        timeout_s,
        f"{count} runs out of the run queue",
    )


async def workflow_exists(client: Client, run_id: str) -> bool:
    """True if Temporal has a workflow for the run."""
    try:
        await client.get_workflow_handle(f"run:{run_id}").describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of the intervals (when jobs ran, say) that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    current = best = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best
