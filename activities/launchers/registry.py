"""The one place that maps a launcher kind to its implementation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from temporalio.exceptions import ApplicationError

from activities.launchers.base import Launcher
from contracts.locations import LauncherKind


@runtime_checkable
class Closeable(Protocol):
    """A launcher holding resources to release at agent shutdown."""

    async def aclose(self) -> None:
        """Release them."""
        ...


class LauncherRegistry:
    """The launchers this agent offers, by kind."""

    def __init__(self, launchers: dict[LauncherKind, Launcher]) -> None:
        self._launchers = launchers

    async def aclose(self) -> None:
        """Release what the launchers hold (watch threads, connections); the work they started keeps running."""
        for launcher in self._launchers.values():
            if isinstance(launcher, Closeable):
                await launcher.aclose()

    def all(self) -> list[Launcher]:
        """Every enabled launcher (for start-up and shutdown hooks)."""
        return list(self._launchers.values())

    def get(self, kind: LauncherKind) -> Launcher:
        """The launcher for `kind`, or a non-retryable error naming what this agent offers."""
        try:
            return self._launchers[kind]
        except KeyError:
            offered = ", ".join(sorted(self._launchers)) or "none"
            raise ApplicationError(
                f"launcher '{kind}' is not enabled on this agent (enabled: {offered})",
                type="LauncherUnavailable",
                non_retryable=True,
            ) from None
