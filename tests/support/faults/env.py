"""A fault environment: the real Temporal dev server and control plane, agents on a queue of their own."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from longshoreman.dev.temporal_server import TemporalDevServer
from tests.support.agent import AgentProcess
from tests.support.control_plane import ControlPlane
from tests.support.stack import Stack


@dataclass
class FaultEnv:
    """Everything one fault trial touches; `close()` leaves nothing running."""

    temporal: TemporalDevServer
    plane: ControlPlane
    agent_token: str
    root: Path
    prefix: str
    agents: list[AgentProcess] = field(default_factory=list)
    _stack: Stack | None = None
    _client: httpx.Client | None = None

    @property
    def queue(self) -> str:
        """The task queue every agent of this environment polls."""
        return f"faults-{self.prefix}"

    @property
    def state_dir(self) -> Path:
        """The process launcher's state dir, shared by the replicas (as on one host)."""
        return self.root / "agent-state"

    def start_agent(self, **extra_env: str) -> AgentProcess:
        """One more agent replica on this environment's queue and state dir."""
        agent = AgentProcess(
            temporal_address=self.temporal.address,
            control_plane_url=self.plane.url,
            agent_token=self.agent_token,
            task_queue=self.queue,
            state_dir=self.state_dir,
            log_file=self.root / f"agent-{len(self.agents)}.log",
            extra_env=dict(extra_env),
        ).start()
        self.agents.append(agent)
        return agent

    @property
    def client(self) -> httpx.Client:
        """An admin client of the control plane (reconnects by itself after a control-plane restart)."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.plane.url,
                headers={"Authorization": f"Bearer {self.plane.admin_token}"},
                timeout=30.0,
            )
        return self._client

    @property
    def stack(self) -> Stack:
        """The user-level helpers (specs, locations, runs) bound to the first agent."""
        if self._stack is None:
            if not self.agents:
                self.start_agent()
            self._stack = Stack(client=self.client, agent=self.agents[0], queue=self.queue, prefix=self.prefix[:6])
        return self._stack

    def live_agents(self) -> list[AgentProcess]:
        """The agents whose process is still running."""
        return [a for a in self.agents if a.process is not None and a.process.poll() is None]

    def agent_logs(self, chars: int = 3000) -> str:
        """The end of every agent's log, for failure messages."""
        return "\n".join(f"--- {a.log_file.name}\n{a.log_tail(chars)}" for a in self.agents)

    def spec(self, name: str = "hello", **overrides: Any) -> dict[str, Any]:
        """A process-launcher spec on this environment's queue."""
        return self.stack.spec(name, **overrides)

    def close(self) -> None:
        """Remove the locations, stop the agents and kill whatever the launcher started."""
        if self._stack is not None:
            with contextlib.suppress(httpx.HTTPError):
                self._stack.remove_all()
            self._stack = None
        for agent in self.agents:
            agent.stop(timeout_s=5)
        if self.agents:
            self.agents[0].kill_leftovers()
        if self._client is not None:
            self._client.close()
            self._client = None
