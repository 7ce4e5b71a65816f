"""Agents as the control plane sees them: their heartbeats and how they look from outside."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from contracts.locations import LauncherKind


class AgentStatus(StrEnum):
    """Whether an agent is there to run work."""

    AVAILABLE = "AVAILABLE"  # heartbeats, and Temporal sees a poller on its task queue
    NOT_POLLING = "NOT_POLLING"  # heartbeats, but Temporal sees no poller on its queue (it cannot reach Temporal?)
    UNAVAILABLE = "UNAVAILABLE"  # silent for longer than the control plane's AGENT_TIMEOUT_S
    STOPPED = "STOPPED"  # said goodbye at a graceful shutdown


class AgentHeartbeat(BaseModel):
    """What an agent tells the control plane when it starts and then every few seconds."""

    instance_id: str = Field(pattern=r"^[a-f0-9]{32}$", description="Random per agent process start.")
    name: str = Field(min_length=1, max_length=200)
    task_queue: str = Field(min_length=1, max_length=200)
    launchers: list[LauncherKind] = Field(min_length=1)
    version: str = Field(max_length=100)
    host: str = Field(max_length=200)
    pid: int = Field(ge=1, le=2**31 - 1)
    started_at: datetime
    running_runs: int = Field(default=0, ge=0, le=2**31 - 1, description="Run workers it knows to be alive.")
    code_servers: int = Field(default=0, ge=0, le=2**31 - 1)
    last_errors: list[str] = Field(default_factory=list, max_length=10, description="Its latest warnings and errors.")
    stopping: bool = Field(default=False, description="The agent's last heartbeat, sent at a graceful shutdown.")


class AgentView(BaseModel):
    """One agent process, with its status judged by the control plane."""

    instance_id: str
    name: str
    task_queue: str
    launchers: list[str]
    version: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    status: AgentStatus
    running_runs: int
    code_servers: int
    last_errors: list[str]


class AgentList(BaseModel):
    """Agents seen recently, the live ones first."""

    agents: list[AgentView]
