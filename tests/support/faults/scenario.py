"""What every fault scenario offers: set up once, then run trials; each trial returns its audit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from temporalio.client import Client

from tests.support.agent import AgentProcess
from tests.support.faults.audit import Audit
from tests.support.faults.env import FaultEnv

T = TypeVar("T")


class Scenario(Protocol):
    """One fault family."""

    name: str

    def setup(self, env: FaultEnv) -> None:
        """Bring the environment to the state a trial starts from (agents, locations)."""
        ...

    def trial(self, env: FaultEnv) -> Audit:
        """Inject the fault once while work is in flight; the audit counts what went wrong."""
        ...


@dataclass
class OneLocation:
    """Base of the scenarios that need one agent and one healthy location: its name and serving instance."""

    location: str = ""
    server: str = ""

    def setup(self, env: FaultEnv) -> None:
        """Start an agent and deploy the location."""
        env.start_agent()
        view = env.stack.add_location(env.spec())
        self.location, self.server = view["name"], view["server"]


def supervising_agent(env: FaultEnv, workflow_id: str, timeout_s: float = 15.0) -> AgentProcess:
    """The agent running the workflow's pending activity (Temporal names the worker by `pid@host`)."""

    async def identity() -> str | None:
        client = await Client.connect(env.temporal.address)
        description = await client.get_workflow_handle(workflow_id).describe()
        for pending in description.raw_description.pending_activities:
            if pending.last_worker_identity:
                return str(pending.last_worker_identity)
        return None

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker = asyncio.run(identity())
        pid = int(worker.split("@", 1)[0]) if worker else None
        for agent in env.live_agents():
            if agent.process is not None and agent.process.pid == pid:
                return agent
        time.sleep(0.1)
    raise AssertionError(f"no live agent is running an activity of {workflow_id}")


def wait_until(probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy (then return it); AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last seen: {last!r}")
