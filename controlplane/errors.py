"""Domain errors the stores and the Temporal gateway raise; the app turns each into one HTTP status."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base class: `status_code` plus one readable message."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(ControlPlaneError):
    """The caller is authenticated but may not act on this resource."""

    status_code = 403


class NotFound(ControlPlaneError):
    """The addressed resource does not exist."""

    status_code = 404


class Conflict(ControlPlaneError):
    """The request clashes with the resource's current state."""

    status_code = 409


class Invalid(ControlPlaneError):
    """The request is well-formed but its content is not acceptable."""

    status_code = 422


class Unavailable(ControlPlaneError):
    """A dependency (Temporal) could not do its part; nothing was changed."""

    status_code = 503
