"""Dagster's event log as our run events: steps, materializations, observations, expectations, asset checks.

Each forwarded Dagster event becomes one run event of the same name (STEP_START, ASSET_MATERIALIZATION...)
whose message is a JSON object: the step, the asset or check it is about and, when log forwarding is on,
Dagster's text, the metadata and the error. Without log forwarding only names and outcomes leave the
environment (metadata and error messages may quote the user's data).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import dagster
from dagster import DagsterEventType, EventLogEntry
from dagster._utils.error import SerializableErrorInfo

FORWARDED = frozenset(
    {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
        DagsterEventType.STEP_UP_FOR_RETRY,
        DagsterEventType.STEP_RESTARTED,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_OBSERVATION,
        DagsterEventType.STEP_EXPECTATION_RESULT,
        DagsterEventType.ASSET_CHECK_EVALUATION,
    }
)


@dataclass(frozen=True)
class MappedEvent:
    """One run event: its type, its message (JSON) and when Dagster recorded it."""

    type: str
    message: str
    at: float


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _metadata(metadata: Any) -> dict[str, Any]:
    return {str(key): _json_safe(getattr(value, "value", value)) for key, value in (metadata or {}).items()}


def user_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The innermost cause of a Dagster error: the user's exception, not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error


_DAGSTER_FILES = f'File "{os.path.dirname(dagster.__file__)}{os.sep}'


def user_traceback(error: SerializableErrorInfo) -> str:
    """The user's frames of the innermost error (Dagster's own frames around the user's code are noise)."""
    frames = [frame for frame in user_error(error).stack if not frame.lstrip().startswith(_DAGSTER_FILES)]
    return "".join(frames)


def error_summary(error: SerializableErrorInfo) -> str:
    """'ValueError: boom' for the user's exception inside a Dagster error."""
    inner = user_error(error)
    text = inner.message.strip() or inner.cls_name or "error"
    return text.splitlines()[0] if text else text


def map_event(entry: EventLogEntry, forward_logs: bool) -> MappedEvent | None:
    """Our run event for one Dagster event log entry, or None if it is not one we forward."""
    event = entry.dagster_event
    if event is None or event.event_type not in FORWARDED:
        return None
    body: dict[str, Any] = {"step": event.step_key}
    data: Any = event.event_specific_data  # its type follows event_type
    kind = event.event_type
    if kind in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
        found = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
        if found is not None:
            body["asset"] = found.asset_key.to_user_string()
            body["partition"] = found.partition
            if forward_logs:
                body["metadata"] = _metadata(found.metadata)
    elif kind is DagsterEventType.ASSET_CHECK_EVALUATION:
        body.update(asset=data.asset_key.to_user_string(), check=data.check_name, passed=data.passed)
        body["severity"] = data.severity.value
        if forward_logs:
            body["metadata"] = _metadata(data.metadata)
    elif kind is DagsterEventType.STEP_EXPECTATION_RESULT:
        result = data.expectation_result
        body.update(label=result.label, success=result.success)
        if forward_logs:
            body["description"] = result.description
            body["metadata"] = _metadata(result.metadata)
    elif kind is DagsterEventType.STEP_FAILURE and forward_logs and data.error is not None:
        body["error"] = error_summary(data.error)
        body["traceback"] = user_traceback(data.error)
    if forward_logs:
        body["message"] = event.message or ""
    return MappedEvent(kind.value, json.dumps(body, separators=(",", ":")), entry.timestamp)
