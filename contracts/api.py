"""Bodies of the control plane's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.locations import Definitions, LocationSpec
from contracts.runs import LogLine, RunEvent, RunRetryPolicy
from contracts.statuses import LocationStatus, RunStatus


class ErrorBody(BaseModel):
    """Every 4xx/5xx carries one readable message."""

    detail: str


class LocationView(BaseModel):
    """A code location as the control plane knows it."""

    name: str
    spec: LocationSpec
    status: LocationStatus
    generation: int
    message: str = ""
    definitions: Definitions = Field(default_factory=Definitions)
    server: str | None = None
    workflow_id: str
    temporal_url: str | None = Field(default=None, description="The workflow's page in the Temporal Web UI.")
    updated_at: datetime


class LocationList(BaseModel):
    """All code locations."""

    locations: list[LocationView]


class LocationEvent(BaseModel):
    """One status change of a code location."""

    time: datetime
    status: LocationStatus
    generation: int
    server: str | None = None
    message: str = ""


class LocationEventList(BaseModel):
    """A location's status changes, oldest first."""

    events: list[LocationEvent]


class RedeployBody(BaseModel):
    """Optional new spec for a redeploy; without it the current spec is redeployed as a new generation."""

    spec: LocationSpec | None = None


class RunView(BaseModel):
    """A run as the control plane knows it."""

    id: str
    location: str
    job: str
    config: dict[str, Any]
    tags: dict[str, str]
    status: RunStatus
    reason: str = ""
    log_tail: str = Field(default="", description="The run worker's last output, kept when it failed.")
    attempt: int = 1
    idempotency_key: str | None = None
    start_timeout_s: float
    max_runtime_s: float | None = None
    retry: RunRetryPolicy
    workflow_id: str
    temporal_url: str | None = Field(default=None, description="The workflow's page in the Temporal Web UI.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LaunchRunResponse(BaseModel):
    """The run, and whether this request created it (False: idempotency key matched an existing run)."""

    run: RunView
    created: bool


class RunList(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunView]


class EventBatch(BaseModel):
    """Events posted by a run worker; duplicates (same attempt + seq) are ignored."""

    events: list[RunEvent] = Field(max_length=1000)


class LogBatch(BaseModel):
    """Log lines posted by a run worker; duplicates (same attempt + seq) are ignored."""

    lines: list[LogLine] = Field(max_length=5000)


class IngestResult(BaseModel):
    """How many items were new."""

    accepted: int
    duplicates: int


class EventList(BaseModel):
    """A run's events in order."""

    events: list[RunEvent]


class LogList(BaseModel):
    """A run's log lines in order."""

    lines: list[LogLine]


class TokenCreate(BaseModel):
    """Ask for a new admin or agent token, optionally one that expires."""

    kind: Literal["admin", "agent"]
    name: str = Field(min_length=1, max_length=100)
    expires_in_s: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Lifetime in seconds; unset: until revoked."
    )


class TokenCreated(BaseModel):
    """The secret is shown once; only its hash is stored."""

    id: str
    kind: str
    name: str
    token: str
    expires_at: datetime | None = None


class TokenView(BaseModel):
    """A token without its secret."""

    id: str
    kind: str
    name: str
    run_id: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenList(BaseModel):
    """Tokens, oldest first."""

    tokens: list[TokenView]


class RunTokenRequest(BaseModel):
    """The agent starts an attempt of a run: the run becomes STARTING, and the token is scoped to it."""

    attempt: int = Field(default=1, ge=1, le=2**31 - 1)


class RunTokenResponse(BaseModel):
    """A token the run worker uses to post its events and logs."""

    token: str
