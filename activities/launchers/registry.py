"""The one place that maps a launcher kind to its implementation."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from activities.launchers.base import Launcher
from activities.launchers.process import ProcessLauncher, ProcessLauncherSettings
from contracts.locations import LauncherKind


class LauncherRegistry:
    """The launchers this agent offers, by kind."""

    def __init__(self, launchers: dict[LauncherKind, Launcher]) -> None:
        self._launchers = launchers

    @classmethod
    def default(cls, process: ProcessLauncherSettings) -> LauncherRegistry:
        """The agent's launchers from its settings (process only until docker/kubernetes land)."""
        return cls({"process": ProcessLauncher(process)})

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
