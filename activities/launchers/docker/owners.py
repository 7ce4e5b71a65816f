"""The agent's owner check for the docker cleanup: asks Temporal whether a location or a run still exists.

A run exists while its workflow `run:<id>` is running. A location exists while `location:<name>` is running;
its `status` query names the serving instance and the last one launched. The check runs on the cleanup's own
thread and event loop, with its own client (connected on first use, with the agent's data converter so the
query's encrypted answer can be read).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from activities.launchers.docker.cleanup import LocationOwner
from contracts.agent import LocationState
from contracts.temporal import STATUS_QUERY, location_workflow_id, run_workflow_id

RPC_TIMEOUT = timedelta(seconds=10)


class TemporalOwners:
    """OwnerCheck backed by the workflows themselves."""

    def __init__(self, address: str, namespace: str, converter: DataConverter) -> None:
        self._address = address
        self._namespace = namespace
        self._converter = converter
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

    async def _running(self, handle: WorkflowHandle[Any, Any]) -> bool | None:
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            return False if err.status == RPCStatusCode.NOT_FOUND else None
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _connect(self) -> Client | None:
        if self._client is None:
            try:
                self._client = await Client.connect(
                    self._address, namespace=self._namespace, data_converter=self._converter
                )
            except Exception:
                return None  # Temporal unreachable: nothing is judged an orphan this sweep
        return self._client
