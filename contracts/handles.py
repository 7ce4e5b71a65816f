"""Handles that name what a launcher started, so a retried activity can find it again."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contracts.locations import LauncherKind


class ServerHandle(BaseModel):
    """One running code-server instance (location + generation + instance number)."""

    name: str = Field(description="Unique instance name, e.g. 'hello-g2-i5'; the launcher's idempotency key.")
    location: str
    generation: int
    instance: int
    launcher: LauncherKind
    url: str = Field(description="Base URL the agent reaches the server at, e.g. http://127.0.0.1:4123.")
    ref: dict[str, str | int] = Field(default_factory=dict, description="Launcher-specific ids (pid, container id...).")
    launched_at: datetime


class WorkerHandle(BaseModel):
    """One run worker (run id + attempt)."""

    name: str = Field(description="Unique worker name, e.g. 'run-<id>-a1'; the launcher's idempotency key.")
    run_id: str
    attempt: int
    launcher: LauncherKind
    ref: dict[str, str | int] = Field(default_factory=dict, description="Launcher-specific ids (pid, container id...).")
    launched_at: datetime
