"""Which task queues have a live agent: the agents' own heartbeats, cross-checked with Temporal's pollers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from controlplane.agent_store import AgentStore
from controlplane.temporal_gateway import TemporalGateway

# Temporal's answer about a queue's pollers is reused this long.
POLLERS_FRESH_FOR = timedelta(seconds=5)
NO_POLLERS_FRESH_FOR = timedelta(seconds=1)


class QueueLiveness:
    """A queue is live if an agent heartbeats on it; a queue no agent heartbeat on within a day (an agent of the
    first release) is live if Temporal sees a poller there. Temporal's pollers also mark, in the agent list, an
    agent that heartbeats but does not poll (it cannot reach Temporal)."""

    def __init__(self, agents: AgentStore, temporal: TemporalGateway) -> None:
        self._agents = agents
        self._temporal = temporal
        self.pollers: dict[str, bool] = {}  # what Temporal last said of each queue (agents list: NOT_POLLING)
        self._asked: dict[str, datetime] = {}

    async def has_pollers(self, queue: str) -> bool:
        """True if Temporal saw an agent poll `queue` lately (cached for a few seconds)."""
        now = datetime.now(UTC)
        asked = self._asked.get(queue)
        # "None" is asked again sooner: an agent that just started polls within a second.
        fresh_for = POLLERS_FRESH_FOR if self.pollers.get(queue) else NO_POLLERS_FRESH_FOR
        if asked is None or asked + fresh_for <= now:
            self.pollers[queue] = await self._temporal.queue_has_pollers(queue)
            self._asked[queue] = now
        return self.pollers[queue]

    async def live(self, queues: Iterable[str]) -> dict[str, bool]:
        """For each queue: does a live agent serve it."""
        wanted = set(queues)
        beating = await asyncio.to_thread(self._agents.live_queues, wanted)
        known = await asyncio.to_thread(self._agents.known_queues, wanted)
        answer: dict[str, bool] = {}
        for queue in wanted:
            if queue in beating:
                answer[queue] = True
                await self.has_pollers(queue)  # for the agent list's NOT_POLLING
            elif queue in known:
                answer[queue] = False  # its agents went silent or stopped
            else:
                answer[queue] = await self.has_pollers(queue)
        return answer
