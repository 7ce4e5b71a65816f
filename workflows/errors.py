"""Turning activity failures into the one-line reasons users see."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError


def cause_of(err: BaseException) -> str:
    """The innermost readable message of an activity failure."""
    current: BaseException | None = err
    while isinstance(current, ActivityError) and current.cause is not None:
        current = current.cause
    if isinstance(current, TimeoutError):
        return f"activity timed out ({current.type.name if current.type else 'timeout'})"
    if isinstance(current, ApplicationError):
        return current.message
    return str(current) if current is not None else "unknown error"


def error_type_of(err: BaseException) -> str:
    """The ApplicationError type at the root of an activity failure ('' if none)."""
    current: BaseException | None = err
    while isinstance(current, ActivityError) and current.cause is not None:
        current = current.cause
    return current.type or "" if isinstance(current, ApplicationError) else ""
