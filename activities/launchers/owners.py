"""The agent's owner check for orphan sweeps: asks Temporal whether a location or a run still exists.

A run exists while its workflow `run:<id>` is running. A location exists while `location:<name>` is running;
its `status` query names the serving instance and the last one launched. A check has a client of its own
(connected on first use, with the agent's data converter so the query's encrypted answer can be read): the
docker cleanup runs it on its own thread and event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.launchers.orphans import LocationOwner
from contracts.agent import LocationState
from contracts.temporal import STATUS_QUERY, location_workflow_id, run_workflow_id

RPC_TIMEOUT = timedelta(seconds=10)
VISIBILITY_BATCH = 200


class TemporalOwners:
    """OwnerCheck (activities/launchers/orphans.py) backed by the workflows themselves."""

    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        # A factory, not a client: the docker cleanup connects on its own thread's event loop.
        self._connect_client = connect
        self._client: Client | None = None

    async def location(self, name: str) -> LocationOwner | None:
        """exists=False once the location's workflow has finished (or never existed); None if Temporal is down."""
        client = await self._connect()
        if client is None:
            return None
        handle = client.get_workflow_handle(location_workflow_id(name))
        running = await self._running(handle)
        if not running:
            return None if running is None else LocationOwner(exists=False)
        try:
            state = await handle.query(STATUS_QUERY, result_type=LocationState, rpc_timeout=RPC_TIMEOUT)
        except Exception:
            return None
        server = state.server.name if state.server is not None else None
        return LocationOwner(exists=True, server=server, latest_instance=state.instance)

    async def run_exists(self, run_id: str) -> bool | None:
        """True while the run's workflow runs; None if Temporal is down."""
        client = await self._connect()
        if client is None:
            return None
        return await self._running(client.get_workflow_handle(run_workflow_id(run_id)))

    async def running_runs(self, run_ids: list[str]) -> set[str] | None:
        """Those of `run_ids` whose workflow visibility shows running, a few hundred per query; None if Temporal
        is down. Visibility lags: a run missing here is confirmed with `run_exists` before anything is done."""
        client = await self._connect()
        if client is None:
            return None
        running: set[str] = set()
        try:
            for start in range(0, len(run_ids), VISIBILITY_BATCH):
                ids = ", ".join(f"'{run_workflow_id(run_id)}'" for run_id in run_ids[start : start + VISIBILITY_BATCH])
                query = f"WorkflowId IN ({ids}) AND ExecutionStatus = 'Running'"
                async for execution in client.list_workflows(query, rpc_timeout=RPC_TIMEOUT):
                    running.add(execution.id.removeprefix("run:"))
        except RPCError:
            return None
        return running

    async def _running(self, handle: WorkflowHandle[Any, Any]) -> bool | None:
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            return False if err.status == RPCStatusCode.NOT_FOUND else None
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _connect(self) -> Client | None:
        if self._client is None:
            try:
                self._client = await self._connect_client()
            except Exception:
                return None  # Temporal unreachable: nothing is judged an orphan this sweep
        return self._client
