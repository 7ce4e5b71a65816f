"""What an alert says: a title, a text, and the JSON a webhook receives; links to the web UI and the Temporal UI.

No secret reaches a message: the values of the location's secret_env are replaced by '***' wherever they appear
(a failure reason may quote them), and nothing else of a spec, no env and no token, is ever put in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from contracts.alerts import AlertEvent, AlertEventKind
from contracts.locations import SECRET_MASK
from contracts.temporal import location_workflow_id, run_workflow_id
from controlplane.links import TemporalLinks, workflow_url

# Secret values shorter than this are not scrubbed (replacing "1" everywhere would garble every message).
MIN_SCRUBBED = 4
MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class AlertLinks:
    """Where messages point: the control plane's public URL and the Temporal UI."""

    public_url: str
    temporal: TemporalLinks | None

    def subject_links(self, event: AlertEvent) -> dict[str, str]:
        """Links for the event's subject (the run or location page, its workflow in the Temporal UI)."""
        base = self.public_url.rstrip("/")
        links: dict[str, str] = {}
        workflow_id: str | None = None
        if event.kind in (
            AlertEventKind.RUN_FAILURE,
            AlertEventKind.RUN_SUCCESS,
            AlertEventKind.RUN_LONG_RUNNING,
            AlertEventKind.RUN_QUEUED_LONG,
        ):
            links["run"] = f"{base}/runs/{quote(event.subject, safe='')}"
            workflow_id = run_workflow_id(event.subject)
        elif event.location is not None:
            links["location"] = f"{base}/locations/{quote(event.location, safe='')}"
            if event.kind is AlertEventKind.TICK_FAILURE:
                automation = str(event.details.get("automation", ""))
                links["automation"] = (
                    f"{base}/automations/{quote(event.location, safe='')}/{quote(automation, safe='')}"
                )
            else:
                workflow_id = location_workflow_id(event.location)
        elif event.kind in (AlertEventKind.AGENT_UNAVAILABLE, AlertEventKind.AGENT_AVAILABLE):
            links["agents"] = f"{base}/"  # the overview page lists the agents
        if workflow_id is not None:
            url = workflow_url(self.temporal, workflow_id)
            if url:
                links["temporal"] = url
        return links


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by '***'."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SCRUBBED:
            text = text.replace(secret, SECRET_MASK)
    return text


def _headline(event: AlertEvent, policy: str) -> str:
    thresholds = event.details.get("threshold_s")
    waited = f" for more than {_duration(float(thresholds))}" if thresholds else ""
    match event.kind:
        case AlertEventKind.RUN_FAILURE:
            return f"Run {event.subject} of {event.location}/{event.job} failed"
        case AlertEventKind.RUN_SUCCESS:
            return f"Run {event.subject} of {event.location}/{event.job} succeeded"
        case AlertEventKind.RUN_LONG_RUNNING:
            return f"Run {event.subject} of {event.location}/{event.job} has been running{waited}"
        case AlertEventKind.RUN_QUEUED_LONG:
            return f"Run {event.subject} of {event.location}/{event.job} has been queued{waited}"
        case AlertEventKind.LOCATION_UNHEALTHY:
            status = event.details.get("status", "down")
            return f"Code location {event.subject} is {status}{waited}"
        case AlertEventKind.LOCATION_RECOVERED:
            return f"Code location {event.subject} recovered"
        case AlertEventKind.AGENT_UNAVAILABLE:
            return f"Agent {event.subject} is unavailable{waited}"
        case AlertEventKind.AGENT_AVAILABLE:
            return f"Agent {event.subject} is available again"
        case AlertEventKind.TICK_FAILURE:
            kind = event.details.get("automation_kind", "automation")
            return f"{str(kind).capitalize()} {event.subject} started failing"
        case _:
            return f"Test alert of policy {policy}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class AlertMessage:
    """One alert, rendered for every channel."""

    title: str
    text: str
    payload: dict[str, Any]


def render(event: AlertEvent, policy: str, links: AlertLinks, secrets: list[str]) -> AlertMessage:
    """The message of `event` for `policy`, with `secrets` scrubbed from everything that came from outside."""
    headline = scrub(_headline(event, policy), secrets)
    reason = scrub(event.reason, secrets)[:MAX_REASON_CHARS]
    urls = links.subject_links(event)
    lines = [headline, ""]
    if reason:
        lines += [f"Reason: {reason}", ""]
    facts = {
        "Policy": policy,
        "Event": event.kind.value,
        "Location": event.location,
        "Job": event.job,
        "Tags": ", ".join(f"{k}={v}" for k, v in sorted(event.tags.items())) or None,
        "Since": event.since.isoformat(timespec="seconds"),
    }
    lines += [f"{key}: {scrub(str(value), secrets)}" for key, value in facts.items() if value]
    if urls:
        lines.append("")
        lines += [f"{name.capitalize()}: {url}" for name, url in urls.items()]
    payload = {
        "policy": policy,
        "event": {
            "id": event.id,
            "kind": event.kind.value,
            "subject": event.subject,
            "location": event.location,
            "job": event.job,
            "tags": event.tags,
            "since": event.since.isoformat(),
            "reason": reason,
        },
        "title": headline,
        "text": "\n".join(lines),
        "links": urls,
    }
    return AlertMessage(title=f"[Longshoreman] {headline}", text="\n".join(lines), payload=payload)
