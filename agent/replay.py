"""Replay recorded workflow histories against the current workflow code and say whether they still fit.

A workflow change that makes the code issue other commands than its history recorded breaks every workflow
still running with that history (Temporal replays it on the next agent that picks it up). Replaying is how we
find out before deploying: `longshoreman replay` for live workflows, tests/histories/ for recorded ones.

The verdict names the first history event the code no longer matches: the SDK does not always say which one,
so on a mismatch we replay ever shorter prefixes of the history (binary search) to find it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DefaultFailureConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from runtime.codec import KeyRing
from runtime.converter import data_converter
from workflows.catalog import AGENT_WORKFLOWS

_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Verdict:
    """The outcome of replaying one workflow execution."""

    workflow_id: str
    run_id: str
    workflow_type: str
    events: int
    nondeterministic: bool = False
    error: str = ""
    event_id: int | None = None
    event: str = ""

    @property
    def clean(self) -> bool:
        """True when the current code reproduced the history exactly."""
        return not self.error

    def describe(self) -> str:
        """A few lines for people: the verdict, and where and what differed."""
        head = f"{self.workflow_id} ({self.workflow_type}, run {self.run_id or '?'}, {self.events} events)"
        if self.clean:
            return f"{head}: replayed cleanly"
        if not self.nondeterministic:
            return f"{head}: replay FAILED (not a determinism problem): {self.error}"
        lines = [f"{head}: NON-DETERMINISTIC"]
        if self.event_id is not None:
            lines.append(f"  first mismatch at event {self.event_id}: history has {self.event}")
        lines.append(f"  the SDK says: {self.error}")
        lines.append(
            "  the current workflow code issues other commands than this history recorded: guard the change with "
            "workflow.patched(...) (README: 'Replay and workflow changes')"
        )
        return "\n".join(lines)


def describe_event(event: HistoryEvent) -> str:
    """An event's type and the attributes that identify the command behind it."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    detail = ""
    if event.HasField("activity_task_scheduled_event_attributes"):
        attrs = event.activity_task_scheduled_event_attributes
        detail = f"activity {attrs.activity_type.name!r} (activity id {attrs.activity_id})"
    elif event.HasField("timer_started_event_attributes"):
        timer = event.timer_started_event_attributes
        detail = f"timer {timer.timer_id} of {timer.start_to_fire_timeout.ToTimedelta().total_seconds():g} s"
    elif event.HasField("marker_recorded_event_attributes"):
        detail = f"marker {event.marker_recorded_event_attributes.marker_name!r}"
    elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        detail = f"search attributes {sorted(fields)}"
    elif event.HasField("workflow_execution_started_event_attributes"):
        detail = f"workflow type {event.workflow_execution_started_event_attributes.workflow_type.name!r}"
    return f"{name} {detail}".strip()


def core_message(error: BaseException) -> str:
    """The SDK core's own message inside a replay failure, unescaped (the whole text if there is none)."""
    text = str(error)
    match = _CORE_MESSAGE.search(text)
    return bytes(match.group(1), "utf-8").decode("unicode_escape") if match else text


def _quiet_runtime() -> Runtime:
    # The SDK core warns on stderr for every failing workflow task; the verdict says it better, once.
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet), metrics=None))


def _prefix(history: WorkflowHistory, length: int) -> WorkflowHistory:
    return WorkflowHistory(history.workflow_id, list(history.events[:length]))


def _workflow_type(history: WorkflowHistory) -> str:
    first = history.events[0] if history.events else None
    if first is not None and first.HasField("workflow_execution_started_event_attributes"):
        return first.workflow_execution_started_event_attributes.workflow_type.name
    return "?"


class HistoryReplayer:
    """Replays histories with the project's converter (encrypted payloads need the keys) and workflows."""

    def __init__(
        self, keys: KeyRing | None, *, debug: bool = False, workflows: Sequence[type] = AGENT_WORKFLOWS
    ) -> None:
        # debug_mode turns off the deadlock detector (and eases the sandbox) so breakpoints can stop a replay.
        self._replayer = Replayer(
            workflows=list(workflows),
            # Failures are decoded either way; not encoding them keeps a replay failure's message readable.
            data_converter=dataclasses.replace(data_converter(keys), failure_converter_class=DefaultFailureConverter),
            debug_mode=debug,
            runtime=_quiet_runtime(),
        )

    async def failure(self, history: WorkflowHistory) -> BaseException | None:
        """The replay failure of one history, or None."""
        result = await self._replayer.replay_workflow(history, raise_on_replay_failure=False)
        return result.replay_failure

    async def verdict(self, history: WorkflowHistory) -> Verdict:
        """Replay one history; on a mismatch, find the first history event that the code no longer produces."""
        base = Verdict(
            workflow_id=history.workflow_id,
            run_id=history.run_id if history.events else "",
            workflow_type=_workflow_type(history),
            events=len(history.events),
        )
        failure = await self.failure(history)
        if failure is None:
            return base
        if not isinstance(failure, NondeterminismError):
            return dataclasses.replace(base, error=core_message(failure))
        event_id = await self._first_mismatch(history)
        event = history.events[event_id - 1] if event_id is not None else None
        return dataclasses.replace(
            base,
            nondeterministic=True,
            error=core_message(failure),
            event_id=event_id,
            event=describe_event(event) if event is not None else "",
        )

    async def _first_mismatch(self, history: WorkflowHistory) -> int | None:
        """The length of the shortest failing prefix = id of the first event the code contradicts."""
        low, high = 1, len(history.events)  # invariant: prefix(high) fails; prefix(low - 1) passes
        while low < high:
            middle = (low + high) // 2
            if isinstance(await self.failure(_prefix(history, middle)), NondeterminismError):
                high = middle
            else:
                low = middle + 1
        return history.events[high - 1].event_id if history.events else None

    async def verdicts(self, histories: AsyncIterator[WorkflowHistory] | Iterable[WorkflowHistory]) -> list[Verdict]:
        """Replay every history, in order."""
        verdicts = []
        if isinstance(histories, AsyncIterator):
            async for history in histories:
                verdicts.append(await self.verdict(history))
        else:
            for history in histories:
                verdicts.append(await self.verdict(history))
        return verdicts


def load_history(text: str, workflow_id: str) -> WorkflowHistory:
    """A history from JSON: `temporal workflow show --output json`, WorkflowHistory.to_json(), or our recordings."""
    return WorkflowHistory.from_json(workflow_id, text)
