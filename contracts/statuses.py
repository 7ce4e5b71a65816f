"""Lifecycle statuses of code locations and runs."""

from enum import StrEnum


class LocationStatus(StrEnum):
    """Where a code location is in its lifecycle."""

    STARTING = "STARTING"
    LOADED = "LOADED"
    UNHEALTHY = "UNHEALTHY"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


class RunStatus(StrEnum):
    """Where a run is in its lifecycle."""

    QUEUED = "QUEUED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change."""
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})
