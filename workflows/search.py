"""Search-attribute updates from inside the workflows, so runs and locations are filterable by current status.

Deterministic: the decision to upsert depends only on workflow state and on the search attributes recorded
in history at start (the control plane sets them only when the namespace has them registered, so a workflow
on a namespace without them never issues an upsert that Temporal would reject).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes as attributes
    from contracts.run_protocol import RunStatus
    from contracts.statuses import LocationStatus


def _enabled() -> bool:
    """True if the workflow was started with our attributes (carried through continue-as-new)."""
    return workflow.info().typed_search_attributes.get(attributes.LOCATION) is not None


def set_run_status(status: RunStatus) -> None:
    """Record a run's new status in LongshoremanRunStatus (no command if unchanged)."""
    if _enabled() and workflow.info().typed_search_attributes.get(attributes.RUN_STATUS) != status.value:
        workflow.upsert_search_attributes([attributes.RUN_STATUS.value_set(status.value)])


def set_location_status(status: LocationStatus) -> None:
    """Record a location's new status in LongshoremanLocationStatus (no command if unchanged)."""
    if _enabled() and workflow.info().typed_search_attributes.get(attributes.LOCATION_STATUS) != status.value:
        workflow.upsert_search_attributes([attributes.LOCATION_STATUS.value_set(status.value)])
