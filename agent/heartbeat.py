"""The agent's own heartbeat to the control plane: who it is, what it serves and runs, its latest errors.

This is the agent process's liveness for people (`longshoreman agent list`, the web page, alerts), not work
supervision: runs and code servers are supervised by their workflows' heartbeating activities in Temporal.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from importlib import metadata

from activities.control_plane_client import ControlPlaneClient
from activities.launchers.orphans import Inventoried
from activities.launchers.registry import LauncherRegistry
from agent.settings import AgentSettings
from contracts.agents import AgentHeartbeat

log = logging.getLogger("longshoreman.agent.heartbeat")
KEPT_ERRORS = 5


class RecentErrors(logging.Handler):
    """Keeps the agent's latest warnings and errors, one line each, for its heartbeat."""

    def __init__(self, keep: int = KEPT_ERRORS) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the record as '<time> <LEVEL> <logger>: <message>' (one line, at most 300 characters)."""
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = " ".join(record.getMessage().split())[:300]
        self.lines.append(f"{when} {record.levelname} {record.name}: {message}")


class AgentHeartbeats:
    """Sends a heartbeat at start, every `heartbeat_interval_s`, and a last one at a graceful shutdown."""

    def __init__(
        self,
        settings: AgentSettings,
        control_plane: ControlPlaneClient,
        launchers: LauncherRegistry,
        errors: RecentErrors,
    ) -> None:
        self._settings = settings
        self._control_plane = control_plane
        self._launchers = launchers
        self._errors = errors
        self._instance_id = uuid.uuid4().hex
        self._started_at = datetime.now(UTC)
        self._failing = False

    async def run_forever(self) -> None:
        """Beat until canceled; a control plane that does not answer is retried at the next beat."""
        while True:
            await self.beat()
            await asyncio.sleep(self._settings.heartbeat_interval_s)

    async def beat(self, stopping: bool = False) -> None:
        """Send one heartbeat (never raises: the agent works without the control plane)."""
        try:
            await self._control_plane.heartbeat(await self._heartbeat(stopping))
        except Exception as err:
            if not self._failing:
                log.warning("heartbeat to the control plane failed (retrying every beat): %s", err)
            self._failing = True
            return
        if self._failing:
            log.info("heartbeats reach the control plane again")
        self._failing = False

    async def _heartbeat(self, stopping: bool) -> AgentHeartbeat:
        servers = workers = 0
        for launcher in self._launchers.all():
            if isinstance(launcher, Inventoried):
                items = await launcher.managed()
                workers += sum(1 for item in items if item.kind == "worker")
                servers += sum(1 for item in items if item.kind == "server")
        return AgentHeartbeat(
            instance_id=self._instance_id,
            name=self._settings.agent_name,
            task_queue=self._settings.task_queue,
            launchers=self._settings.launchers,
            version=_version(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self._started_at,
            running_runs=workers,
            code_servers=servers,
            last_errors=list(self._errors.lines),
            stopping=stopping,
        )


def _version() -> str:
    try:
        return metadata.version("longshoreman")
    except metadata.PackageNotFoundError:
        return "unknown"
