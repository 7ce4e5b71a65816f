"""Faults 1 and 2: kill -9 an agent mid-run — with a replica on the queue, or the only one (restarted later)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation, supervising_agent, wait_until


@dataclass
class AgentKilledWithReplica:
    """Two agents share the queue and the state dir; the one supervising a run is killed; the other takes over."""

    runs: int = 3
    seconds: int = 4
    name: str = "agent killed, replica takes over"
    location: str = ""
    server: str = ""
    killed_runs: list[str] = field(default_factory=list)  # runs the killed agent supervised

    def setup(self, env: FaultEnv) -> None:
        env.start_agent()
        env.start_agent()
        view = env.stack.add_location(env.spec())
        self.location, self.server = view["name"], view["server"]

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        runs = [ledger.sleepy(self.location, self.seconds) for _ in range(self.runs)]
        assert ledger.wait_all({"STARTED"}, 30), env.agent_logs()
        victim = supervising_agent(env, f"run:{runs[0]}")
        self.killed_runs = [run for run in runs if supervising_agent(env, f"run:{run}") is victim]
        time.sleep(1.0)  # the agent's lease lists a watch in Temporal within 0.3 s of its start
        victim.kill()
        ledger.settle(60)
        # Recovery (in the audit): from a job's end to its final status, which waits for the replica to re-attach.
        audit = ledger.audit(keep_servers={self.server})
        # The location keeps the same server: a dead agent is no reason to restart user code.
        view = env.stack.location(self.location)
        if view["status"] != "LOADED" or view["server"] != self.server:
            audit.problems.append(f"location {view['status']} on {view['server']}, expected LOADED on {self.server}")
        env.start_agent()  # back to two replicas for the next trial
        return audit


@dataclass
class AgentKilledAndRestarted(OneLocation):
    """The only agent is killed; runs end and are launched while it is down; it comes back after `delay_s`."""

    delay_s: float = 20.0
    name: str = "only agent killed, restarted"

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        agent = env.live_agents()[0]
        ends_during = ledger.sleepy(self.location, 2)
        spans = ledger.sleepy(self.location, int(self.delay_s) + 3)
        assert ledger.wait_all({"STARTED"}, 30, [ends_during, spans]), env.agent_logs()
        agent.kill()
        # Launched while no agent is up: Temporal keeps the workflow until one polls the queue.
        ledger.launch(self.location, "greet", {"name": "outage"}, log_lines=1)
        time.sleep(self.delay_s)
        restarted = time.monotonic()
        agent.start()
        ledger.settle(60 + self.delay_s)
        settled = time.monotonic()
        audit = ledger.audit(keep_servers={self.server})
        # Recovery: from the restart until every run shows its final status.
        audit.recovery_s = settled - restarted
        wait_until(lambda: env.stack.location(self.location)["status"] == "LOADED", 30, "the location LOADED")
        return audit
