"""The only module that talks to Temporal: starts and steers location and run workflows by name."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import TimeoutError as TimeoutError_
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts import search_attributes as attributes
from contracts.agent import LocationState, RedeployRequest, RunResult, RunWorkflowInput
from contracts.config_check import ConfigCheck, ConfigCheckRequest
from contracts.locations import LocationSpec
from contracts.run_protocol import RunStatus
from contracts.runs import RunRequest
from contracts.temporal import (
    LOCATION_WORKFLOW,
    REDEPLOY_UPDATE,
    RUN_WORKFLOW,
    STOP_SIGNAL,
    VALIDATE_CONFIG_WORKFLOW,
    WORKFLOW_TASK_TIMEOUT,
    location_workflow_id,
    run_workflow_id,
)
from controlplane.errors import Conflict, Unavailable
from runtime.codec import KeyRing
from runtime.converter import data_converter
from runtime.temporal_connection import TemporalConnection

log = logging.getLogger(__name__)

RPC_TIMEOUT = timedelta(seconds=10)
IDENTITY = f"longshoreman-controlplane@{socket.gethostname()}"


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
        cls, connection: TemporalConnection, *, update_timeout_s: float = 15.0, keys: KeyRing | None = None
    ) -> TemporalGateway:
        """A gateway whose client connects on first use, so the API stays up while Temporal is down (the control
        plane's start checked the connection once: controlplane/main.py).

        `keys` encrypt every payload the control plane sends and decrypt results and query answers.
        """
        client = await connection.connect(data_converter(keys), identity=IDENTITY, lazy=True)
        return cls(client, address=connection.describe(), update_timeout_s=update_timeout_s)

    @asynccontextmanager
    async def rpc(self, action: str, timeout_s: float | None = None) -> AsyncIterator[None]:
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

    async def start_workflow(
        self, workflow: str, arg: Any, *, search: list[SearchAttributePair[str]], **options: Any
    ) -> None:
        """Start with our search attributes; without them (once, then always) if the namespace lacks them."""
        options.setdefault("task_timeout", WORKFLOW_TASK_TIMEOUT)
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
        async with self.rpc(f"start workflow {workflow_id}"):
            try:
                await self.start_workflow(
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
        async with self.rpc(f"redeploy {workflow_id}", self.update_timeout_s + RPC_TIMEOUT.total_seconds()):
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
                # Failure messages travel encrypted (runtime/codec.py): decode before quoting one.
                failure = await self.client.data_converter.decode_failure(outcome.failure)
                raise Conflict(f"location '{spec.name}' rejected the redeploy: {failure}")

    async def stop_location(self, name: str) -> bool:
        """Signal `stop`; False if the workflow is no longer running."""
        workflow_id = location_workflow_id(name)
        async with self.rpc(f"stop {workflow_id}"):
            try:
                await self.client.get_workflow_handle(workflow_id).signal(STOP_SIGNAL, rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True

    # ---- runs ---------------------------------------------------------------------------------------

    async def start_run(self, run_id: str, request: RunRequest, location: LocationSpec) -> bool:
        """Start RunWorkflow `run:<id>` (duplicates rejected) on the location's agent queue; False if it existed."""
        workflow_id = run_workflow_id(run_id)
        async with self.rpc(f"start workflow {workflow_id}"):
            try:
                await self.start_workflow(
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
                return False
        return True

    async def check_config(self, request: ConfigCheckRequest, queue: str, timeout_s: float) -> ConfigCheck:
        """The verdict of the location's code server on a launch's config (ValidateConfigWorkflow on its agent
        queue), or — no agent took it, or Temporal did not answer, within `timeout_s` — why there is none."""
        workflow_id = f"validate-config:{request.location}:{uuid.uuid4().hex}"
        try:
            # Temporal ends the workflow at `timeout_s`; this second bound is for a Temporal slow to say so.
            async with asyncio.timeout(timeout_s + 1.0):
                result: ConfigCheck = await self.client.execute_workflow(
                    VALIDATE_CONFIG_WORKFLOW,
                    request,
                    id=workflow_id,
                    task_queue=queue,
                    result_type=ConfigCheck,
                    # Temporal ends it after this, answered or not: no agent left it waiting on its queue.
                    execution_timeout=timedelta(seconds=timeout_s),
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                    rpc_timeout=RPC_TIMEOUT,
                )
                return result
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, TimeoutError_):
                return ConfigCheck(unchecked=f"no agent of queue '{queue}' answered within {timeout_s:g} s")
            return ConfigCheck(unchecked=f"the check failed: {getattr(cause, 'message', None) or err}")
        except (RPCError, RuntimeError, TimeoutError) as err:
            return ConfigCheck(unchecked=f"Temporal at {self.address} did not run the check: {err}")

    async def cancel_run(self, run_id: str) -> bool:
        """Request cancellation of `run:<id>`; False if the workflow has already closed."""
        workflow_id = run_workflow_id(run_id)
        async with self.rpc(f"cancel {workflow_id}"):
            try:
                await self.client.get_workflow_handle(workflow_id).cancel(rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True

    # ---- reconciliation: what Temporal says of runs and queues -------------------------------------

    async def run_closure(self, run_id: str) -> RunClosure | None:
        """How the run's workflow closed, or None while it runs (a reset's new execution runs on)."""
        handle = self.client.get_workflow_handle(run_workflow_id(run_id))
        async with self.rpc(f"describe workflow {handle.id}"):
            try:
                description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return RunClosure(RunStatus.FAILURE, "its workflow no longer exists in Temporal", missing=True)
                raise
            if description.status in (None, WorkflowExecutionStatus.RUNNING):
                return None
            closed = self.client.get_workflow_handle(handle.id, run_id=description.run_id)
            async for event in closed.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, rpc_timeout=RPC_TIMEOUT
            ):
                return await self._closure_from(event)
        return RunClosure(RunStatus.FAILURE, f"workflow {description.status.name.lower()}")

    async def _closure_from(self, event: HistoryEvent) -> RunClosure:
        converter = self.client.data_converter
        if event.HasField("workflow_execution_completed_event_attributes"):
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            (result,) = await converter.decode(payloads, [RunResult]) if payloads else (None,)
            if isinstance(result, RunResult) and result.status.is_terminal:
                return RunClosure(result.status, result.reason)
            return RunClosure(RunStatus.SUCCESS, "")
        if event.HasField("workflow_execution_failed_event_attributes"):
            failure = await converter.decode_failure(event.workflow_execution_failed_event_attributes.failure)
            return RunClosure(RunStatus.FAILURE, str(failure) or "workflow failed")
        if event.HasField("workflow_execution_canceled_event_attributes"):
            return RunClosure(RunStatus.CANCELED, "canceled (its workflow was canceled in Temporal)")
        if event.HasField("workflow_execution_terminated_event_attributes"):
            attributes = event.workflow_execution_terminated_event_attributes
            who = f" by {attributes.identity}" if attributes.identity else ""
            return RunClosure(RunStatus.FAILURE, f"workflow terminated{who}: {attributes.reason or 'no reason given'}")
        if event.HasField("workflow_execution_timed_out_event_attributes"):
            return RunClosure(RunStatus.FAILURE, "workflow timed out (its execution timeout passed)")
        return RunClosure(RunStatus.FAILURE, "its workflow closed without a final report")

    async def closed_run_ids(self, since: datetime) -> list[str]:
        """Ids of runs whose workflow closed at or after `since` (Temporal's visibility: eventually consistent)."""
        query = (
            f"WorkflowType = '{RUN_WORKFLOW}' AND ExecutionStatus != 'Running' "
            f"AND CloseTime >= '{since.astimezone(UTC).isoformat()}'"
        )
        ids: list[str] = []
        async with self.rpc("list closed run workflows", 60.0):
            async for execution in self.client.list_workflows(query, rpc_timeout=RPC_TIMEOUT):
                if execution.id.startswith("run:"):
                    ids.append(execution.id.removeprefix("run:"))
        return ids

    async def queue_has_pollers(self, queue: str, fresh_s: float = 120.0) -> bool:
        """True if an agent polled `queue` for workflow tasks within `fresh_s` (Temporal keeps pollers ~5 min)."""
        request = DescribeTaskQueueRequest(
            namespace=self.client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        async with self.rpc(f"describe task queue {queue}"):
            response = await self.client.workflow_service.describe_task_queue(request, timeout=RPC_TIMEOUT)
        cutoff = datetime.now(UTC) - timedelta(seconds=fresh_s)
        return any(poller.last_access_time.ToDatetime(UTC) >= cutoff for poller in response.pollers)

    async def terminate_run(self, run_id: str, reason: str) -> bool:
        """Terminate the run's workflow; False if it had already closed."""
        handle = self.client.get_workflow_handle(run_workflow_id(run_id))
        async with self.rpc(f"terminate {handle.id}"):
            try:
                await handle.terminate(reason=reason, rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True


@dataclass(frozen=True)
class RunClosure:
    """The final status a closed workflow implies for its run, and why."""

    status: RunStatus
    reason: str
    missing: bool = False  # Temporal knows no workflow of the run (never started, or long gone)
