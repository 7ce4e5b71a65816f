"""Asking a location's serving code server over HTTP: found through its location workflow's status query.

Shared by the activities that run user code in the code server (automation ticks, config checks): the agent
itself never imports user code.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.polling import heartbeating
from contracts.agent import LocationState
from contracts.statuses import LocationStatus
from contracts.temporal import STATUS_QUERY, location_workflow_id


class NotServing(Exception):
    """The location has no serving code server to ask: its workflow cannot be queried, or it is not LOADED."""

    def __init__(self, message: str, status: LocationStatus | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CodeServerClient:
    """One pooled HTTP client for every request the agent's activities send to code servers."""

    def __init__(self) -> None:
        self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def ask(
        self, location: str, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """POST to the location's serving code server: its JSON answer, or {"error": why} if it gave none (an
        answer of HTTP 400 or more always carries "error"). NotServing if there is no code server to ask.

        Heartbeats while it waits (a long tick evaluation must not look like a dead agent)."""
        try:
            state = (
                await activity.client()
                .get_workflow_handle(location_workflow_id(location))
                .query(STATUS_QUERY, result_type=LocationState)
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:  # no such location (any more): nothing to ask, for good
                raise NotServing(f"code location '{location}' cannot be asked: {err.message}") from err
            # Transient (the query reached a dead agent's sticky queue, Temporal is busy or restarting): fail this
            # attempt so the activity's retry asks again, instead of skipping a tick that a retry would run.
            raise ApplicationError(
                f"code location '{location}' cannot be asked yet: {err.message}", type="LocationQueryFailed"
            ) from err
        if state.status is not LocationStatus.LOADED or state.server is None:
            raise NotServing(f"code location '{location}' is {state.status}", state.status)
        try:
            async with heartbeating():
                response = await self._http.post(state.server.url + path, json=body, timeout=timeout_s)
        except httpx.HTTPError as err:
            return {"error": f"the code server {state.server.name} did not answer: {type(err).__name__}: {err}"}
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return {"error": f"the code server {state.server.name} answered HTTP {response.status_code} without JSON"}
        if response.status_code >= 400 and "error" not in answer:
            answer["error"] = str(answer.get("detail") or f"HTTP {response.status_code}")
        return answer
