"""Runs whose workflow is steered from outside the control plane (the Temporal CLI or UI) stay true to it."""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from tests.support.agent import alive, wait_for
from tests.support.stack import Stack


async def test_a_terminated_workflow_ends_its_run_and_the_agent_stops_the_worker(
    stack: Stack, temporal_client: Client
) -> None:
    run_id, pid = stack.started_sleepy(120)

    await temporal_client.get_workflow_handle(f"run:{run_id}").terminate(reason="operator cleanup")
    terminated = time.monotonic()
    run = stack.wait_run(run_id, timeout_s=10)
    shown_after_s = time.monotonic() - terminated

    assert run["status"] == "FAILURE", run
    assert "workflow terminated" in run["reason"] and "operator cleanup" in run["reason"], run["reason"]
    assert run["finished_at"] is not None
    assert shown_after_s <= 5.0, f"the control plane showed the terminate after {shown_after_s:.1f} s"
    # Nobody is left to stop it but the agent: its supervision hears "not found" on a heartbeat, or its sweep asks.
    wait_for(lambda: not alive(pid), 30, "the orphaned run worker to be stopped")


async def test_a_reset_workflow_runs_on_and_its_run_is_not_ended_by_the_old_executions_close(
    stack: Stack, temporal_client: Client
) -> None:
    run_id, pid = stack.started_sleepy(6)
    handle = temporal_client.get_workflow_handle(f"run:{run_id}")
    history = await handle.fetch_history()
    completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    first_task = next(e.event_id for e in history.events if e.event_type == completed)

    await temporal_client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=temporal_client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=history.run_id),
            reason="replaying after a fix",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    await asyncio.sleep(3)  # the run monitor cycles meanwhile and sees the old execution TERMINATED by the reset
    assert stack.run(run_id)["status"] in ("STARTING", "STARTED"), stack.run(run_id)

    run = stack.wait_run(run_id, timeout_s=40)
    assert run["status"] == "SUCCESS", run
    assert stack.worker_pid(run_id) == pid, "the new execution adopted the worker: it did not launch it again"
    assert len([e for e in stack.events(run_id) if e["type"] == "RUN_START"]) == 1
