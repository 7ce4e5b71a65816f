"""Read what the control plane asked of Temporal: a workflow's start input and the events in its history."""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

T = TypeVar("T")


async def start_input(client: Client, workflow_id: str, model: type[T], run_id: str | None = None) -> T:
    """The decoded argument the workflow was started with."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (value,) = await client.data_converter.decode(started.input.payloads, [model])
    result: T = value
    return result


async def history_event_types(client: Client, workflow_id: str) -> list[str]:
    """Names of the events in the workflow's current history, e.g. 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED'."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [EventType.Name(e.event_type) for e in history.events]


async def signals_received(client: Client, workflow_id: str) -> list[str]:
    """Names of the signals the workflow received, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    names: list[Any] = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    return names
