"""User endpoints for alerts: policies (secrets never returned), YAML sync, test alerts and delivery history.

Viewers read policies and history; editors change policies and send test alerts (audited, like limits)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contracts.alerts import (
    AlertEventKind,
    AlertPolicy,
    AlertPolicyList,
    AlertPolicySync,
    AlertSyncResult,
    AlertTestResult,
    DeliveryList,
)
from controlplane.alerts.dispatcher import delivery_workflow_id
from controlplane.audit import Action
from controlplane.auth import Editor, Viewer
from controlplane.errors import Invalid, Unavailable
from controlplane.services import ServicesDep
from controlplane.tables import utcnow

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def _summary(policy: AlertPolicy) -> str:
    """What the audit log says of a stored policy (never a channel's secret)."""
    channels = ", ".join(f"{c.name} ({c.kind})" for c in policy.channels) or "no channel"
    return f"events {', '.join(k.value for k in policy.events)}; {channels}"


@router.get("/policies")
def list_policies(services: ServicesDep, _: Viewer) -> AlertPolicyList:
    """Every policy by name; channel secrets shown as ***."""
    return services.alert_policies.list()


@router.get("/policies/{name}")
def get_policy(name: str, services: ServicesDep, _: Viewer) -> AlertPolicy:
    """One policy; channel secrets shown as ***."""
    return services.alert_policies.get(name)


@router.post("/policies", status_code=status.HTTP_201_CREATED)
def add_policy(policy: AlertPolicy, services: ServicesDep, who: Editor) -> AlertPolicy:
    """Create a policy (409 if the name exists)."""
    stored, _created = services.alert_policies.put(policy, replace=False)
    services.audit.record(who, Action.alert_policy_set, policy.name, _summary(stored))
    return stored


@router.put("/policies/{name}", responses={201: {"model": AlertPolicy}})
def put_policy(name: str, policy: AlertPolicy, response: Response, services: ServicesDep, who: Editor) -> AlertPolicy:
    """Create or replace a policy; a channel secret sent as *** keeps the stored one."""
    if policy.name != name:
        raise Invalid(f"the policy is called '{policy.name}' but was sent for '{name}'")
    stored, created = services.alert_policies.put(policy, replace=True)
    services.audit.record(who, Action.alert_policy_set, name, _summary(stored))
    if created:
        response.status_code = status.HTTP_201_CREATED
    return stored


@router.delete("/policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_policy(name: str, services: ServicesDep, who: Editor) -> None:
    """Remove a policy; deliveries of it still pending record `skipped`."""
    services.alert_policies.remove(name)
    services.audit.record(who, Action.alert_policy_removed, name)


@router.post("/sync")
def sync_policies(request: AlertPolicySync, services: ServicesDep, who: Editor) -> AlertSyncResult:
    """Create or replace the given policies; with prune, remove every other one."""
    result = services.alert_policies.sync(request)
    changed = f"created {len(result.created)}, updated {len(result.updated)}, removed {len(result.removed)}"
    services.audit.record(who, Action.alert_policies_synced, "alert policies", changed)
    return result


@router.post("/policies/{name}/test", status_code=status.HTTP_202_ACCEPTED)
async def test_policy(name: str, services: ServicesDep, who: Editor) -> AlertTestResult:
    """Send a test alert to every channel of the policy (see `GET /api/alerts/history` for the outcome)."""
    policy = await run_in_threadpool(services.alert_policies.get, name)
    event_id = f"test:{name}:{uuid.uuid4().hex[:12]}"
    await run_in_threadpool(
        services.alert_events.add,
        id=event_id,
        kind=AlertEventKind.TEST,
        subject=name,
        since=utcnow(),
        reason="a test alert: this channel works",
        details={"policy": name},
    )
    await services.audit.note(who, Action.alert_policy_tested, name, event_id)
    try:
        await services.alert_dispatcher.dispatch_pending()
    except Exception as err:
        raise Unavailable(f"the test alert is stored and will be sent once Temporal answers: {err}") from err
    return AlertTestResult(
        event_id=event_id,
        workflow_id=delivery_workflow_id(name, event_id),
        channels=[channel.name for channel in policy.channels],
    )


@router.get("/history")
def history(
    services: ServicesDep,
    _: Viewer,
    policy: str | None = None,
    event: str | None = None,
    subject: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """Every delivery attempt and decision, newest first: policy, event, channel, time, outcome, error."""
    return services.alert_events.history(policy=policy, event_id=event, subject=subject, limit=limit)
