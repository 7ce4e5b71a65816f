"""Bodies of the control plane's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from contracts.compute_logs import ComputeLogs
from contracts.locations import Definitions, LocationSpec
from contracts.roles import Role
from contracts.run_protocol import RunStatus
from contracts.runs import LogLine, RunEvent, RunRetryPolicy
from contracts.statuses import LocationStatus


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
    reason: str = Field(default="", description="Why the run ended as it did (set with its final status).")
    message: str = Field(default="", description="What the run is waiting for right now, e.g. an agent.")
    queue: str | None = Field(default=None, description="The agent task queue the run was started on.")
    log_tail: str = Field(default="", description="The run worker's last output, kept when it failed.")
    compute_logs: ComputeLogs | None = Field(
        default=None, description="Where its logs are kept (None: the control plane, as before stores existed)."
    )
    attempt: int = 1
    idempotency_key: str | None = None
    start_timeout_s: float
    queued_timeout_s: float | None = None
    max_runtime_s: float | None = None
    retry: RunRetryPolicy
    workflow_id: str
    temporal_url: str | None = Field(default=None, description="The workflow's page in the Temporal Web UI.")
    priority: int = Field(default=0, description="Its place in the run queue (tag longshoreman/priority).")
    pool: str | None = Field(default=None, description="The pool its job declares, if any.")
    queue_position: int | None = Field(
        default=None, description="Waiting in the run queue: its place (1 = next); unset once it left the queue."
    )
    parent_run_id: str | None = Field(default=None, description="The run this one re-executes.")
    created_at: datetime
    dequeued_at: datetime | None = Field(
        default=None, description="When it left the run queue (took its slots; its workflow was started)."
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LaunchRunResponse(BaseModel):
    """The run, and whether this request created it (False: idempotency key matched an existing run)."""

    run: RunView
    created: bool


class RunList(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunView]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; unset: no more.")


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


QUEUE_PATTERN = r"^[A-Za-z0-9._:/*?\[\]-]{1,200}$"
DEFAULT_AGENT_QUEUES = ["longshoreman"]


class TokenCreate(BaseModel):
    """Ask for a new user ("admin" kind) or agent token, optionally one that expires."""

    kind: Literal["admin", "agent"]
    name: str = Field(min_length=1, max_length=100)
    role: Role | None = Field(
        default=None,
        description="User tokens: viewer, launcher, editor or admin (the default); agent tokens have none.",
    )
    expires_in_s: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Lifetime in seconds; unset: until revoked."
    )
    queues: list[Annotated[str, Field(pattern=QUEUE_PATTERN)]] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Agent tokens: the task queues the agent serves (glob patterns, e.g. 'team-a-*'); it may report "
        "on and start only locations and runs of these queues. Default: ['longshoreman'].",
    )

    @model_validator(mode="after")
    def _queues_for_agents(self) -> TokenCreate:
        if self.kind != "agent" and self.queues is not None:
            raise ValueError("queues: only agent tokens serve task queues")
        if self.kind == "agent" and self.role is not None:
            raise ValueError("role: only user (admin kind) tokens have a role")
        if self.kind == "agent" and self.queues is None:
            self.queues = list(DEFAULT_AGENT_QUEUES)
        return self


class TokenRotate(BaseModel):
    """Replace a token by a new one; the old one keeps working for `overlap_s`, so its user can switch."""

    overlap_s: float = Field(default=3600.0, ge=0, le=30 * 86400)


class TokenCreated(BaseModel):
    """The secret is shown once; only its hash is stored."""

    id: str
    kind: str
    name: str
    token: str
    queues: list[str] | None = None
    role: Role | None = None
    expires_at: datetime | None = None


class TokenView(BaseModel):
    """A token without its secret."""

    id: str
    kind: str
    name: str
    run_id: str | None = None
    queues: list[str] | None = Field(default=None, description="Agent tokens: the task queues they serve.")
    role: Role | None = Field(default=None, description="User tokens: what they may do (contracts/roles.py).")
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenList(BaseModel):
    """Tokens, oldest first."""

    tokens: list[TokenView]


class RunTokenRequest(BaseModel):
    """The agent starts an attempt of a run: the run becomes STARTING, and the token is scoped to it."""

    attempt: int = Field(default=1, ge=1, le=2**31 - 1)
    compute_logs: ComputeLogs | None = Field(default=None, description="Where the attempt's worker keeps its logs.")


class RunWaitResult(BaseModel):
    """The agent's view of a run it waits for (a schedule whose runs may not overlap)."""

    final: bool
    status: RunStatus


class RunTokenResponse(BaseModel):
    """A token the run worker uses to post its events and logs."""

    token: str


class SignIn(BaseModel):
    """A browser signs in with a token; it gets a session cookie, never the token back."""

    token: str = Field(min_length=1, max_length=500)


class SessionView(BaseModel):
    """The caller's session: who it acts as, and the CSRF token its state-changing requests must send."""

    kind: str
    token_id: str
    name: str = ""
    role: Role | None = None
    csrf_token: str
    expires_at: datetime


class AuditEntry(BaseModel):
    """One thing a user did: who (token id and name), what (action), to which thing (target), when."""

    id: int
    time: datetime
    actor_id: str
    actor_name: str
    action: str
    target: str
    detail: str = ""


class AuditList(BaseModel):
    """Audit entries, newest first, a page at a time."""

    entries: list[AuditEntry]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; unset: no more.")
