"""Which policies an event goes to: the event kind, then the filters (location, job, tags)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from contracts.alerts import AlertEvent, AlertEventKind, AlertPolicy

# Events about a run: the job and tag filters apply to them; to other events only the location filter does.
RUN_EVENTS = frozenset(
    {
        AlertEventKind.RUN_FAILURE,
        AlertEventKind.RUN_SUCCESS,
        AlertEventKind.RUN_LONG_RUNNING,
        AlertEventKind.RUN_QUEUED_LONG,
    }
)


def _any(patterns: list[str], value: str | None) -> bool:
    return not patterns or (value is not None and any(fnmatchcase(value, pattern) for pattern in patterns))


def matches(policy: AlertPolicy, event: AlertEvent) -> bool:
    """True if `policy` alerts on `event`.

    Agent events have no location: a location filter lets them through only if it lists `agent:<name>` (or a
    pattern such as `agent:*`). Job and tag filters are about runs: a policy with them gets only run events.
    """
    if not policy.enabled or not policy.wants(event.kind):
        return False
    filters = policy.filters
    if event.location is not None:
        if not _any(filters.locations, event.location):
            return False
    elif filters.locations and not _any(filters.locations, f"agent:{event.subject}"):
        return False
    if event.kind in RUN_EVENTS:
        if not _any(filters.jobs, event.job):
            return False
        if any(event.tags.get(key) != value for key, value in filters.tags.items()):
            return False
    elif filters.jobs or filters.tags:
        # A policy about certain jobs or tags is about runs: a location's or an agent's event is not for it.
        return False
    return True
