"""The only module that talks to Temporal: starts and steers location and run workflows by name."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import search_attributes as attributes
from contracts.agent import LocationState, RedeployRequest, RunWorkflowInput
from contracts.codec import KeyRing
from contracts.locations import LocationSpec
from contracts.runs import RunRequest
from contracts.temporal import (
    LOCATION_WORKFLOW,
    REDEPLOY_UPDATE,
    RUN_WORKFLOW,
    STOP_SIGNAL,
    data_converter,
    location_workflow_id,
    run_workflow_id,
)
from controlplane.errors import Conflict, Unavailable

log = logging.getLogger(__name__)

RPC_TIMEOUT = timedelta(seconds=10)


class TemporalGateway:
    """Starts, updates, signals and cancels the project's workflows; maps Temporal failures to domain errors."""

    def __init__(self, client: Client, *, address: str, update_timeout_s: float = 15.0) -> None:
        self.client = client
        self.address = address
        self.update_timeout_s = update_timeout_s
        # Unknown until the first start: False once Temporal said the namespace lacks our search attributes.
        self.search_attributes_registered: bool | None = None

    @classmethod
    async def connect(
        cls, address: str, namespace: str, *, update_timeout_s: float = 15.0, keys: KeyRing | None = None
    ) -> TemporalGateway:
        """A gateway whose client connects on first use, so the API is up even while Temporal is not.

        `keys` encrypt every payload the control plane sends and decrypt results and query answers.
        """
        client = await Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(keys),
            identity=f"longshoreman-controlplane@{socket.gethostname()}",
            lazy=True,
        )
        return cls(client, address=address, update_timeout_s=update_timeout_s)

    @asynccontextmanager
    async def _rpc(self, action: str, timeout_s: float | None = None) -> AsyncIterator[None]:
        # Every unexpected Temporal failure becomes one readable 503; callers catch the expected ones first.
        try:
            async with asyncio.timeout(timeout_s or RPC_TIMEOUT.total_seconds() * 2):
                yield
        except (Conflict, Unavailable):
            raise
        except RPCError as err:
            raise Unavailable(f"Temporal at {self.address} could not {action}: {err.message}") from err
        except TimeoutError as err:
            raise Unavailable(f"Temporal at {self.address} did not answer in time to {action}") from err
        except RuntimeError as err:  # the lazy client's connection failure surfaces as RuntimeError
            raise Unavailable(f"Temporal at {self.address} is unreachable ({action}): {err}") from err

    async def _start_workflow(
        self, workflow: str, arg: Any, *, search: list[SearchAttributePair[str]], **options: Any
    ) -> None:
        """Start with our search attributes; without them (once, then always) if the namespace lacks them."""
        if self.search_attributes_registered is not False:
            try:
                await self.client.start_workflow(
                    workflow, arg, search_attributes=TypedSearchAttributes(search), **options
                )
                self.search_attributes_registered = True
                return
            except RPCError as err:
                if err.status != RPCStatusCode.INVALID_ARGUMENT or "search attribute" not in err.message.lower():
                    raise
                log.warning(
                    "namespace has no Longshoreman search attributes (%s); starting workflows without them. "
                    "Register them with: %s",
                    err.message,
                    "; ".join(attributes.registration_commands(self.client.namespace)),
                )
                self.search_attributes_registered = False
        await self.client.start_workflow(workflow, arg, **options)

    # ---- code locations ---------------------------------------------------------------------------

    async def start_location(self, spec: LocationSpec, *, replace_existing: bool) -> None:
        """Start CodeLocationWorkflow `location:<name>` on the spec's agent queue.

        `replace_existing` terminates a still-open workflow of that id (a location being re-created after it
        reported STOPPED); otherwise an open workflow is a conflict.
        """
        workflow_id = location_workflow_id(spec.name)
        policy = WorkflowIDConflictPolicy.TERMINATE_EXISTING if replace_existing else WorkflowIDConflictPolicy.FAIL
        async with self._rpc(f"start workflow {workflow_id}"):
            try:
                await self._start_workflow(
                    LOCATION_WORKFLOW,
                    LocationState(spec=spec),
                    search=[
                        SearchAttributePair(attributes.LOCATION, spec.name),
                        SearchAttributePair(attributes.LOCATION_STATUS, "STARTING"),
                        SearchAttributePair(attributes.AGENT, spec.agent_queue),
                    ],
                    id=workflow_id,
                    task_queue=spec.agent_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    id_conflict_policy=policy,
                    rpc_timeout=RPC_TIMEOUT,
                )
            except WorkflowAlreadyStartedError as err:
                raise Conflict(
                    f"workflow {workflow_id} is already running in Temporal but unknown to this control plane"
                ) from err

    async def redeploy_location(self, spec: LocationSpec) -> None:
        """Send the `redeploy` update and wait until the workflow accepted it (validator passed), not until done."""
        workflow_id = location_workflow_id(spec.name)
        handle = self.client.get_workflow_handle(workflow_id)
        async with self._rpc(f"redeploy {workflow_id}", self.update_timeout_s + RPC_TIMEOUT.total_seconds()):
            try:
                update = await asyncio.wait_for(
                    handle.start_update(
                        REDEPLOY_UPDATE,
                        RedeployRequest(spec=spec),
                        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                        rpc_timeout=RPC_TIMEOUT,
                    ),
                    timeout=self.update_timeout_s,
                )
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
                raise Unavailable(
                    f"the workflow of location '{spec.name}' did not accept the redeploy within "
                    f"{self.update_timeout_s:g} s: is an agent serving task queue '{spec.agent_queue}' running? "
                    "(Temporal keeps the request; a workflow that picks it up later may still apply it)"
                ) from err
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise Conflict(f"the workflow of location '{spec.name}' is not running: {err.message}") from err
                raise
            # A rejected update comes back at once with its outcome; the SDK exposes it only on the handle.
            outcome = getattr(update, "_known_outcome", None)
            if outcome is not None and outcome.HasField("failure"):
                # Failure messages travel encrypted (contracts/codec.py): decode before quoting one.
                failure = await self.client.data_converter.decode_failure(outcome.failure)
                raise Conflict(f"location '{spec.name}' rejected the redeploy: {failure}")

    async def stop_location(self, name: str) -> bool:
        """Signal `stop`; False if the workflow is no longer running."""
        workflow_id = location_workflow_id(name)
        async with self._rpc(f"stop {workflow_id}"):
            try:
                await self.client.get_workflow_handle(workflow_id).signal(STOP_SIGNAL, rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True

    # ---- runs ---------------------------------------------------------------------------------------

    async def start_run(self, run_id: str, request: RunRequest, location: LocationSpec) -> None:
        """Start RunWorkflow `run:<id>` (duplicates rejected) on the location's agent queue."""
        workflow_id = run_workflow_id(run_id)
        async with self._rpc(f"start workflow {workflow_id}"):
            try:
                await self._start_workflow(
                    RUN_WORKFLOW,
                    RunWorkflowInput(run_id=run_id, request=request, location=location),
                    search=[
                        SearchAttributePair(attributes.LOCATION, location.name),
                        SearchAttributePair(attributes.JOB, request.job),
                        SearchAttributePair(attributes.RUN_STATUS, "QUEUED"),
                        SearchAttributePair(attributes.AGENT, location.agent_queue),
                    ],
                    id=workflow_id,
                    task_queue=location.agent_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    rpc_timeout=RPC_TIMEOUT,
                )
            except WorkflowAlreadyStartedError:
                # Run ids are unique, so an existing workflow of this id is this very run: starting is done.
                log.info("workflow %s was already started", workflow_id)

    async def cancel_run(self, run_id: str) -> bool:
        """Request cancellation of `run:<id>`; False if the workflow has already closed."""
        workflow_id = run_workflow_id(run_id)
        async with self._rpc(f"cancel {workflow_id}"):
            try:
                await self.client.get_workflow_handle(workflow_id).cancel(rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True
