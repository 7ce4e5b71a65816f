"""Inputs and states of the automation workflows (schedule ticks, sensors, backfills) and of their activities."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field

from contracts.automations import (
    AutomationKind,
    AutomationRunsRequest,
    AutomationRunsResult,
    CatchupPolicy,
    OverlapPolicy,
    TickEvaluation,
    TickOutcome,
    TickReport,
)

MAX_REASON = 8000


def schedule_run_key(location: str, schedule: str, scheduled_time: datetime) -> str:
    """The idempotency key of a schedule's run for one tick: a retried tick or a backfill of it gives one run."""
    return f"schedule:{location}:{schedule}:{scheduled_time.isoformat(timespec='seconds')}"


def sensor_run_key(location: str, sensor: str, run_key: str) -> str:
    """The idempotency key of a sensor's run request: one run per run key for the sensor's lifetime."""
    return f"sensor:{location}:{sensor}:{hashlib.sha256(run_key.encode()).hexdigest()[:48]}"


def schedule_id(location: str, schedule: str) -> str:
    """Id of a schedule's Temporal Schedule."""
    return f"automation:{location}:{schedule}"


def sensor_workflow_id(location: str, sensor: str) -> str:
    """Id of a sensor's workflow."""
    return f"sensor:{location}:{sensor}"


def temporal_id(kind: AutomationKind, location: str, name: str) -> str:
    """Where an automation lives in Temporal: its Schedule's id (schedules) or its workflow's id (sensors)."""
    return schedule_id(location, name) if kind is AutomationKind.SCHEDULE else sensor_workflow_id(location, name)


def tick_report(
    tick_id: str,
    kind: AutomationKind,
    scheduled_time: datetime | None,
    evaluation: TickEvaluation,
    launched: AutomationRunsResult | None,
    backfill_id: str | None = None,
) -> TickReport:
    """How a tick went, from its evaluation and the launch of its runs (None: nothing was launched)."""
    report = TickReport(
        tick_id=tick_id, kind=kind, scheduled_time=scheduled_time, outcome=TickOutcome.SUCCESS, backfill_id=backfill_id
    )
    if evaluation.error is not None:
        report.outcome, report.reason = TickOutcome.FAILURE, evaluation.error[:MAX_REASON]
    elif not evaluation.runs:
        skipped = evaluation.skip_reason is not None
        report.outcome = TickOutcome.SKIPPED if skipped else TickOutcome.SUCCESS
        report.reason = (evaluation.skip_reason or "nothing to run")[:MAX_REASON]
    elif launched is not None:
        report.run_ids = launched.run_ids
        if launched.errors:
            report.outcome = TickOutcome.FAILURE
            report.reason = "; ".join(launched.errors)[:MAX_REASON]
    report.cursor = evaluation.cursor
    return report


def backfill_workflow_id(backfill_id: str) -> str:
    """Id of a backfill's workflow."""
    return f"backfill:{backfill_id}"


class ScheduleTickInput(BaseModel):
    """What a Temporal Schedule starts ScheduleTickWorkflow with, at each of its times."""

    location: str
    schedule: str
    schedule_id: str
    overlap: OverlapPolicy = OverlapPolicy.ALLOW
    catchup: CatchupPolicy = CatchupPolicy.LATEST
    evaluation_timeout_s: float = Field(default=60.0, gt=0)


class ScheduleTickRequest(BaseModel):
    """Evaluate one tick of a schedule in its code server."""

    location: str
    schedule: str
    schedule_id: str | None = Field(default=None, description="Set: judge catch-up against the Schedule's actions.")
    scheduled_time: datetime
    catchup: CatchupPolicy = CatchupPolicy.ALL


class ScheduleTickAll(BaseModel):
    """Evaluate, launch and record one on-time tick of a schedule in one activity."""

    request: ScheduleTickRequest
    tick_id: str


class ScheduleTickDone(BaseModel):
    """What the one-activity tick did: `report` once the runs are launched and the tick recorded, else None (the
    workflow then launches and records from `evaluation`, with its long retries)."""

    evaluation: TickEvaluation
    report: TickReport | None = None


class SensorSettings(BaseModel):
    """What a redeploy may change of a running sensor."""

    minimum_interval_s: float = Field(ge=1)
    evaluation_timeout_s: float = Field(default=60.0, gt=0)


class SensorState(BaseModel):
    """All state of one SensorWorkflow; carried whole through continue-as-new."""

    location: str
    sensor: str
    minimum_interval_s: float = Field(ge=1)
    evaluation_timeout_s: float = Field(default=60.0, gt=0)
    cursor: str | None = None
    last_tick_time: datetime | None = None
    ticks: int = Field(default=0, description="Ticks so far, over every run of the workflow (tick ids).")
    stop_requested: bool = False


class SensorTickRequest(BaseModel):
    """Evaluate one tick of a sensor in its code server."""

    location: str
    sensor: str
    cursor: str | None = None
    last_tick_time: datetime | None = None


class BackfillState(BaseModel):
    """All state of one BackfillWorkflow; carried through continue-as-new."""

    backfill_id: str
    location: str
    schedule: str
    times: list[datetime]
    next_index: int = 0
    rate_per_s: float = Field(default=2.0, gt=0)
    evaluation_timeout_s: float = Field(default=60.0, gt=0)


class LaunchTickRuns(BaseModel):
    """Launch a tick's runs through the control plane."""

    location: str
    automation: str
    request: AutomationRunsRequest


class ReportTickInput(BaseModel):
    """Tell the control plane how a tick went."""

    location: str
    automation: str
    report: TickReport


class WaitRunsInput(BaseModel):
    """Wait until these runs are final (a schedule whose runs may not overlap)."""

    run_ids: list[str]
