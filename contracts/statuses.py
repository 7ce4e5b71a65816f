"""Lifecycle statuses of code locations (a run's status and its transitions are in contracts/run_protocol.py)."""

from enum import StrEnum


class LocationStatus(StrEnum):
    """Where a code location is in its lifecycle."""

    STARTING = "STARTING"
    LOADED = "LOADED"
    UNHEALTHY = "UNHEALTHY"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
