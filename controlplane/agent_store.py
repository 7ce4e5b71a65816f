"""Agents' heartbeats, and which task queues have a live agent (the control plane's view of its agents)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select

from contracts.agents import AgentHeartbeat, AgentList, AgentStatus, AgentView
from contracts.alerts import AlertEventKind
from controlplane.alerts import outbox
from controlplane.database import Database
from controlplane.scopes import QueueScope
from controlplane.tables import AgentRow, utcnow

# Agents not heard of for this long are no longer listed.
LISTED_FOR = timedelta(days=1)
# An agent that just started may not have polled yet.
NOT_POLLING_AFTER = timedelta(seconds=10)


class AgentStore:
    """Every read and write of the agents table; one transaction per method."""

    def __init__(self, db: Database, timeout_s: float) -> None:
        self._db = db
        self.timeout = timedelta(seconds=timeout_s)

    def heartbeat(self, beat: AgentHeartbeat, scope: QueueScope) -> None:
        """Record an agent's heartbeat (Forbidden unless its token serves the queue it polls)."""
        scope.check(beat.task_queue, f"agent {beat.name}")
        now = utcnow()
        with self._db.write() as session:
            row = session.get(AgentRow, beat.instance_id)
            new = row is None
            if row is None:
                row = AgentRow(instance_id=beat.instance_id)
                session.add(row)
            row.name, row.task_queue, row.launchers = beat.name, beat.task_queue, list(beat.launchers)
            row.version, row.host, row.pid, row.started_at = beat.version, beat.host, beat.pid, beat.started_at
            row.running_runs, row.code_servers, row.last_errors = beat.running_runs, beat.code_servers, beat.last_errors
            row.last_seen = now
            row.stopped_at = now if beat.stopping else None
            if new:
                # A new instance: its agent's watch (unavailable / back alerts) is started from the outbox.
                outbox.record(
                    session,
                    id=f"agent-started:{beat.instance_id}",
                    kind=AlertEventKind.AGENT_STARTED,
                    subject=beat.name,
                    since=now,
                    details={"task_queue": beat.task_queue},
                )

    def list(self, pollers: Mapping[str, bool]) -> AgentList:
        """Agents seen within a day, the live ones first; `pollers`: what Temporal last said of each queue."""
        now = utcnow()
        with self._db.read() as session:
            rows = session.scalars(select(AgentRow).where(AgentRow.last_seen >= now - LISTED_FOR)).all()
            views = [self._view(row, now, pollers) for row in rows]
        order = list(AgentStatus)
        views.sort(key=lambda view: (order.index(view.status), view.name, -view.started_at.timestamp()))
        return AgentList(agents=views)

    def live_queues(self, queues: Iterable[str] | None = None) -> set[str]:
        """Task queues with an agent that heartbeat within the timeout and did not stop."""
        cutoff = utcnow() - self.timeout
        query = select(AgentRow.task_queue).where(AgentRow.last_seen >= cutoff, AgentRow.stopped_at.is_(None))
        if queues is not None:
            query = query.where(AgentRow.task_queue.in_(list(queues)))
        with self._db.read() as session:
            return set(session.scalars(query))

    def known_queues(self, queues: Iterable[str]) -> set[str]:
        """Those of `queues` some agent heartbeat on within a day (queues of agents that heartbeat at all)."""
        since = utcnow() - LISTED_FOR
        query = select(AgentRow.task_queue).where(AgentRow.task_queue.in_(list(queues)), AgentRow.last_seen >= since)
        with self._db.read() as session:
            return set(session.scalars(query))

    def _view(self, row: AgentRow, now: datetime, pollers: Mapping[str, bool]) -> AgentView:
        if row.stopped_at is not None:
            status = AgentStatus.STOPPED
        elif row.last_seen < now - self.timeout:
            status = AgentStatus.UNAVAILABLE
        elif pollers.get(row.task_queue) is False and row.started_at < now - NOT_POLLING_AFTER:
            status = AgentStatus.NOT_POLLING
        else:
            status = AgentStatus.AVAILABLE
        return AgentView(
            instance_id=row.instance_id,
            name=row.name,
            task_queue=row.task_queue,
            launchers=row.launchers,
            version=row.version,
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            last_seen=row.last_seen,
            status=status,
            running_runs=row.running_runs,
            code_servers=row.code_servers,
            last_errors=row.last_errors,
        )
