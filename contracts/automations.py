"""Automations: schedules and sensors that launch runs, their ticks and backfills, as every side sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from contracts.run_protocol import RESERVED_TAG_PREFIX

AUTOMATION_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$"
# Tags the control plane puts on an automation's runs (users may not set them themselves).
AUTOMATION_TAG = RESERVED_TAG_PREFIX + "automation"
TICK_TAG = RESERVED_TAG_PREFIX + "tick"
BACKFILL_TAG = RESERVED_TAG_PREFIX + "backfill"


class AutomationKind(StrEnum):
    """A schedule ticks on a clock; a sensor ticks every minimum interval and decides by itself."""

    SCHEDULE = "schedule"
    SENSOR = "sensor"


class AutomationStatus(StrEnum):
    """Stopped automations do not tick; the status survives redeploys and restarts."""

    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class OverlapPolicy(StrEnum):
    """What a schedule tick does while the previous tick's run is still going."""

    ALLOW = "allow"  # launch anyway: runs may overlap (the default, as in Dagster)
    SKIP = "skip"  # skip the tick
    BUFFER_ONE = "buffer_one"  # run it once the previous run ended; further ticks meanwhile are skipped


class CatchupPolicy(StrEnum):
    """What happens to the ticks missed while nothing could run them (agent, code server or Temporal down)."""

    LATEST = "latest"  # only the latest missed tick runs (the default, as in Dagster)
    ALL = "all"  # every missed tick runs
    NONE = "none"  # no missed tick runs: a tick evaluated more than 5 s after its time is skipped


class ScheduleDefinition(BaseModel):
    """A schedule as the code server reports it."""

    name: str = Field(pattern=AUTOMATION_NAME)
    job: str
    cron: str | None = None
    every_s: float | None = None
    timezone: str = "UTC"
    config: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    default_status: AutomationStatus = AutomationStatus.RUNNING
    description: str = ""
    overlap: OverlapPolicy = OverlapPolicy.ALLOW
    catchup: CatchupPolicy = CatchupPolicy.LATEST
    decides_ticks: bool = Field(default=False, description="A schedule function decides each tick.")
    error: str = Field(default="", description="Why the definition cannot tick (an invalid cron, an unknown job).")


class SensorDefinition(BaseModel):
    """A sensor as the code server reports it."""

    name: str = Field(pattern=AUTOMATION_NAME)
    job: str
    minimum_interval_s: float = 30.0
    default_status: AutomationStatus = AutomationStatus.RUNNING
    description: str = ""
    error: str = ""


class TickOutcome(StrEnum):
    """How one evaluation of an automation went."""

    SUCCESS = "SUCCESS"  # it launched its runs (possibly none for a sensor with nothing new)
    SKIPPED = "SKIPPED"
    FAILURE = "FAILURE"


class AutomationRun(BaseModel):
    """One run a tick asks for; its idempotency key makes a retried tick give the same run."""

    config: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=200)


class TickEvaluation(BaseModel):
    """What the code server decided for one tick (or why it could not)."""

    runs: list[AutomationRun] = Field(default_factory=list)
    skip_reason: str | None = None
    error: str | None = None
    cursor: str | None = Field(default=None, description="Sensors: the cursor to keep after these runs.")


class AutomationRunsRequest(BaseModel):
    """The agent launches a tick's runs through the control plane."""

    kind: AutomationKind
    tick_id: str = Field(min_length=1, max_length=200)
    backfill_id: str | None = None
    runs: list[AutomationRun] = Field(max_length=1000)


class AutomationRunsResult(BaseModel):
    """The runs a tick launched (or found already launched), and the requests that could not be launched."""

    run_ids: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class TickReport(BaseModel):
    """The agent reports each tick once it is decided; idempotent by `tick_id`."""

    tick_id: str = Field(min_length=1, max_length=200)
    kind: AutomationKind
    scheduled_time: datetime | None = None
    outcome: TickOutcome
    reason: str = Field(default="", max_length=8000)
    run_ids: list[str] = Field(default_factory=list, max_length=1000)
    cursor: str | None = Field(default=None, max_length=64_000)
    backfill_id: str | None = None


class TickView(BaseModel):
    """One stored tick."""

    tick_id: str
    time: datetime
    scheduled_time: datetime | None = None
    outcome: TickOutcome
    reason: str = ""
    run_ids: list[str] = Field(default_factory=list)
    cursor: str | None = None
    backfill_id: str | None = None


class TickList(BaseModel):
    """An automation's ticks, newest first."""

    ticks: list[TickView]


class AutomationView(BaseModel):
    """A schedule or sensor of a location, with its status and last tick."""

    location: str
    name: str
    kind: AutomationKind
    job: str
    status: AutomationStatus
    definition: dict[str, Any]
    error: str = Field(default="", description="Why it does not tick: its definition's or Temporal's error.")
    last_tick: TickView | None = None
    cursor: str | None = None
    temporal_id: str = Field(description="The Temporal Schedule's id (schedules) or workflow id (sensors).")
    updated_at: datetime


class AutomationList(BaseModel):
    """Automations of every location."""

    automations: list[AutomationView]


class BackfillRequest(BaseModel):
    """Launch one run per tick of a schedule between `start` and `end` (inclusive)."""

    start: datetime
    end: datetime
    max_ticks: int = Field(default=1000, ge=1, le=10_000)
    rate_per_s: float = Field(default=2.0, gt=0, le=100, description="At most this many ticks a second.")


class BackfillView(BaseModel):
    """A backfill and its progress."""

    id: str
    location: str
    schedule: str
    start: datetime
    end: datetime
    total: int
    done: int
    run_ids: list[str] = Field(default_factory=list)
    status: str
    created_at: datetime


class BackfillList(BaseModel):
    """Backfills of a schedule, newest first."""

    backfills: list[BackfillView]
