"""Alert policies, their channels, the events they match and the records of every delivery attempt.

Shared by the control plane (API, stores, its delivery workflows) and the CLI; no I/O here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.locations import SECRET_MASK

POLICY_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
CHANNEL_NAME_PATTERN = r"^[a-z0-9]([a-z0-9_-]{0,38}[a-z0-9])?$"
# The policy a new deployment starts with (a run longer than 24 h); it has no channel until one is added.
DEFAULT_POLICY = "long-running-runs"
DEFAULT_LONG_RUNNING_S = 24 * 3600.0
# Task queue of the control plane's own Temporal worker (alert delivery and watch workflows).
CONTROL_PLANE_QUEUE = "longshoreman-controlplane"
ALERT_DELIVERY_WORKFLOW = "AlertDeliveryWorkflow"
AGENT_WATCH_WORKFLOW = "AgentWatchWorkflow"


class AlertEventKind(StrEnum):
    """What can happen that a policy may alert on."""

    RUN_FAILURE = "run_failure"
    RUN_SUCCESS = "run_success"  # opt-in
    RUN_LONG_RUNNING = "run_long_running"  # started and not finished after thresholds.run_long_running_s
    RUN_QUEUED_LONG = "run_queued_long"  # still QUEUED after thresholds.run_queued_s
    LOCATION_UNHEALTHY = "location_unhealthy"  # ERROR or UNHEALTHY for thresholds.location_unhealthy_s
    LOCATION_RECOVERED = "location_recovered"  # after a location_unhealthy alert of the same policy
    AGENT_UNAVAILABLE = "agent_unavailable"  # no heartbeat / no poller for thresholds.agent_unavailable_s
    AGENT_AVAILABLE = "agent_available"  # back, after an agent_unavailable alert of the same policy
    TICK_FAILURE = "tick_failure"  # a schedule's or sensor's tick failed after one that did not
    TEST = "test"  # `longshoreman alert test`
    AGENT_STARTED = "agent_started"  # internal: an agent instance's first heartbeat starts its watch


# Events a policy subscribes to; the recoveries follow their "down" event when notify_recovery is on.
SUBSCRIBABLE = frozenset(
    set(AlertEventKind)
    - {
        AlertEventKind.LOCATION_RECOVERED,
        AlertEventKind.AGENT_AVAILABLE,
        AlertEventKind.TEST,
        AlertEventKind.AGENT_STARTED,
    }
)
RECOVERY_OF = {
    AlertEventKind.LOCATION_RECOVERED: AlertEventKind.LOCATION_UNHEALTHY,
    AlertEventKind.AGENT_AVAILABLE: AlertEventKind.AGENT_UNAVAILABLE,
}


class AlertThresholds(BaseModel):
    """How long a condition must hold before its alert fires (seconds)."""

    model_config = ConfigDict(extra="forbid")

    run_long_running_s: float = Field(default=DEFAULT_LONG_RUNNING_S, ge=0)
    run_queued_s: float = Field(default=600.0, ge=0)
    location_unhealthy_s: float = Field(default=60.0, ge=0)
    agent_unavailable_s: float = Field(default=60.0, ge=0)

    def delay_of(self, kind: AlertEventKind) -> float:
        """The wait before an event of `kind` is checked again and delivered (0: at once)."""
        return {
            AlertEventKind.RUN_LONG_RUNNING: self.run_long_running_s,
            AlertEventKind.RUN_QUEUED_LONG: self.run_queued_s,
            AlertEventKind.LOCATION_UNHEALTHY: self.location_unhealthy_s,
            AlertEventKind.AGENT_UNAVAILABLE: self.agent_unavailable_s,
        }.get(kind, 0.0)


class AlertFilters(BaseModel):
    """Which subjects a policy is about; an empty list or map matches everything."""

    model_config = ConfigDict(extra="forbid")

    locations: list[str] = Field(default_factory=list, description="Location names or fnmatch patterns ('etl-*').")
    jobs: list[str] = Field(default_factory=list, description="Job names or patterns (run events only).")
    tags: dict[str, str] = Field(default_factory=dict, description="Every tag must match (run events only).")


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=CHANNEL_NAME_PATTERN, description="Unique within the policy.")


class EmailChannel(_Channel):
    """Email over SMTP (STARTTLS unless turned off, e.g. for a relay on localhost)."""

    kind: Literal["email"] = "email"
    smtp_host: str = Field(min_length=1, max_length=255)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: str | None = Field(default=None, description="A secret: stored encrypted, shown as ***.")
    sender: str = Field(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=255)]] = Field(min_length=1)


class AppriseChannel(_Channel):
    """Slack, Microsoft Teams, PagerDuty or any other service through an apprise URL (a secret: it holds keys)."""

    kind: Literal["slack", "teams", "pagerduty", "apprise"]
    url: str = Field(min_length=3, max_length=2000, description="An apprise URL; stored encrypted, shown as ***.")


class WebhookChannel(_Channel):
    """A JSON POST signed with HMAC-SHA256 (headers X-Longshoreman-Timestamp and X-Longshoreman-Signature)."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(max_length=2000, description="http(s) URL; stored encrypted, shown as ***.")
    signing_secret: str = Field(description="HMAC key, at least 16 characters; stored encrypted, shown as ***.")

    @model_validator(mode="after")
    def _check(self) -> WebhookChannel:
        # '***' (a policy read back from the API) keeps the stored value: checked when it was stored.
        if self.url != SECRET_MASK and not self.url.startswith(("http://", "https://")):
            raise ValueError("url: a webhook URL starts with http:// or https://")
        if self.signing_secret != SECRET_MASK and len(self.signing_secret) < 16:
            raise ValueError("signing_secret: at least 16 characters")
        return self


AlertChannel = Annotated[EmailChannel | AppriseChannel | WebhookChannel, Field(discriminator="kind")]
# The fields of each channel kind that are secrets (sealed at rest, masked in answers).
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("password",),
    "slack": ("url",),
    "teams": ("url",),
    "pagerduty": ("url",),
    "apprise": ("url",),
    "webhook": ("url", "signing_secret"),
}


class AlertPolicy(BaseModel):
    """Which events, about what, go to which channels."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=POLICY_NAME_PATTERN)
    description: str = Field(default="", max_length=1000)
    enabled: bool = True
    events: list[AlertEventKind] = Field(min_length=1)
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    notify_recovery: bool = Field(default=True, description="Also send location_recovered / agent_available.")
    filters: AlertFilters = Field(default_factory=AlertFilters)
    channels: list[AlertChannel] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _check(self) -> AlertPolicy:
        bad = [kind.value for kind in self.events if kind not in SUBSCRIBABLE]
        if bad:
            raise ValueError(f"events: {', '.join(bad)} cannot be subscribed to (recoveries follow notify_recovery)")
        names = [channel.name for channel in self.channels]
        if len(set(names)) != len(names):
            raise ValueError("channels: two channels have the same name")
        return self

    def wants(self, kind: AlertEventKind) -> bool:
        """True if this policy alerts on events of `kind`."""
        if kind in RECOVERY_OF:
            return self.notify_recovery and RECOVERY_OF[kind] in self.events
        return kind in self.events

    def masked(self) -> AlertPolicy:
        """This policy with every channel secret shown as ***."""
        channels = []
        for channel in self.channels:
            update = {field: SECRET_MASK for field in SECRET_FIELDS[channel.kind] if getattr(channel, field)}
            channels.append(channel.model_copy(update=update))
        return self.model_copy(update={"channels": channels})


class AlertPolicyList(BaseModel):
    """Policies by name (secrets masked)."""

    policies: list[AlertPolicy]


class AlertPolicySync(BaseModel):
    """A YAML file's policies (`longshoreman alert sync`): created or replaced; with prune, others removed."""

    model_config = ConfigDict(extra="forbid")

    policies: list[AlertPolicy]
    prune: bool = False


class AlertSyncResult(BaseModel):
    """What a sync changed."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]


class AlertEvent(BaseModel):
    """Something that happened which policies may alert on; `id` is unique per occurrence (and its dedupe key)."""

    id: str
    kind: AlertEventKind
    subject: str = Field(description="Run id, location, agent name or location/automation.")
    location: str | None = None
    job: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    since: datetime = Field(description="When the condition began (a threshold counts from here).")
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class DeliveryOutcome(StrEnum):
    """How one delivery attempt (or decision) went."""

    FIRED = "fired"  # the condition held: the alert goes out to every channel of the policy
    DELIVERED = "delivered"
    FAILED = "failed"  # this attempt failed; retried with backoff
    GAVE_UP = "gave_up"  # the retry period ended without delivery
    SKIPPED = "skipped"  # the condition ended before its threshold, or the policy changed or was removed


class DeliveryRecord(BaseModel):
    """One recorded attempt: policy, event, channel, time, outcome, error."""

    id: int
    policy: str
    event_id: str
    event_kind: AlertEventKind
    subject: str
    channel: str
    attempt: int
    time: datetime
    outcome: DeliveryOutcome
    error: str = ""


class DeliveryList(BaseModel):
    """Delivery records, newest first."""

    deliveries: list[DeliveryRecord]


class AlertTestResult(BaseModel):
    """`alert test`: the test event and the delivery workflow sending it to every channel of the policy."""

    event_id: str
    workflow_id: str
    channels: list[str]


class AlertDeliveryInput(BaseModel):
    """The delivery workflow's input: ids only (the activities read the event and the policy from the database,
    so no channel secret ever travels through Temporal)."""

    policy: str
    event_id: str
    event_kind: AlertEventKind
    fire_at: datetime | None = Field(default=None, description="Wait until then, check the condition, deliver.")
    retry_period_s: float = Field(gt=0)
    retry_max_interval_s: float = Field(gt=0)


class AlertDecision(BaseModel):
    """Whether the alert goes out, and to which channels."""

    fire: bool
    channels: list[str] = Field(default_factory=list)
    why_not: str = ""


class ChannelDelivery(BaseModel):
    """One channel's delivery activity input."""

    policy: str
    event_id: str
    channel: str


class ChannelDelivered(BaseModel):
    """A channel's delivery result (already_sent: an earlier attempt had delivered it)."""

    already_sent: bool = False


class GaveUp(BaseModel):
    """The record of a delivery that ran out of its retry period."""

    policy: str
    event_id: str
    channel: str
    error: str


class AgentWatchState(BaseModel):
    """The agent watch workflow's state (carried through continue-as-new): the open episode, if any."""

    agent: str
    down_event_id: str | None = None
    check_interval_s: float = Field(gt=0)
    checks: int = 0


class AgentCheck(BaseModel):
    """What one look at an agent found and recorded."""

    down_event_id: str | None
    gone: bool = Field(description="Stopped on purpose with no open episode, or not heard of for a day: end.")
