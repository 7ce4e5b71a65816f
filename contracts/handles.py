"""Handles that name what a launcher started, so a retried activity can find it again.

The names are the launchers' idempotency keys: every launcher names a code server and a run worker the same
way and builds its handles here, so the workflows, the cleanup and the CLI agree on what a name means.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from contracts.locations import LauncherKind

Ref = dict[str, str | int]


def code_server_name(location: str, generation: int, instance: int) -> str:
    """Unique name of one code-server instance; the launchers' idempotency key."""
    return f"{location}-g{generation}-i{instance}"


def run_worker_name(run_id: str, attempt: int) -> str:
    """Unique name of one run attempt's worker; the launchers' idempotency key."""
    return f"run-{run_id}-a{attempt}"


_SERVER_NAME = re.compile(r"^(?P<location>.+)-g(?P<generation>[0-9]+)-i(?P<instance>[0-9]+)$")
_WORKER_NAME = re.compile(r"^run-(?P<run_id>.+)-a(?P<attempt>[0-9]+)$")


def parse_code_server_name(name: str) -> tuple[str, int, int] | None:
    """(location, generation, instance) of a code-server name, or None if it is not one."""
    match = _SERVER_NAME.fullmatch(name)
    return (match["location"], int(match["generation"]), int(match["instance"])) if match else None


def parse_run_worker_name(name: str) -> tuple[str, int] | None:
    """(run id, attempt) of a run-worker name, or None if it is not one."""
    match = _WORKER_NAME.fullmatch(name)
    return (match["run_id"], int(match["attempt"])) if match else None


class CodeServerHandle(BaseModel):
    """One running code-server instance (location + generation + instance number)."""

    name: str = Field(description="Unique instance name, e.g. 'hello-g2-i5'; the launcher's idempotency key.")
    location: str
    generation: int
    instance: int
    launcher: LauncherKind
    url: str = Field(description="Base URL the agent reaches the server at, e.g. http://127.0.0.1:4123.")
    ref: Ref = Field(default_factory=dict, description="Launcher-specific ids (pid, container id...).")
    launched_at: datetime

    @classmethod
    def of(
        cls,
        launcher: LauncherKind,
        location: str,
        generation: int,
        instance: int,
        *,
        url: str,
        launched_at: datetime,
        ref: Ref | None = None,
    ) -> CodeServerHandle:
        """The handle of a launched (or adopted) instance, named as every launcher names it."""
        return cls(
            name=code_server_name(location, generation, instance),
            location=location,
            generation=generation,
            instance=instance,
            launcher=launcher,
            url=url,
            ref=ref or {},
            launched_at=launched_at,
        )


class RunWorkerHandle(BaseModel):
    """One run worker (run id + attempt)."""

    name: str = Field(description="Unique worker name, e.g. 'run-<id>-a1'; the launcher's idempotency key.")
    run_id: str
    attempt: int
    launcher: LauncherKind
    ref: Ref = Field(default_factory=dict, description="Launcher-specific ids (pid, container id...).")
    launched_at: datetime

    @classmethod
    def of(
        cls, launcher: LauncherKind, run_id: str, attempt: int, *, launched_at: datetime, ref: Ref | None = None
    ) -> RunWorkerHandle:
        """The handle of a launched (or adopted) run worker, named as every launcher names it."""
        return cls(
            name=run_worker_name(run_id, attempt),
            run_id=run_id,
            attempt=attempt,
            launcher=launcher,
            ref=ref or {},
            launched_at=launched_at,
        )
