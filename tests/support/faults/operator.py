"""Fault 11: an operator steering from outside — a run's workflow terminated with the Temporal CLI or UI,
a cancel of a run still queued (no agent on its queue yet), a cancel of a run that already finished."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from temporalio.client import Client

from runtime.converter import data_converter
from tests.support.agent import AgentProcess
from tests.support.encryption import session_keyring
from tests.support.faults.audit import Audit, Ledger
from tests.support.faults.env import FaultEnv
from tests.support.faults.scenario import OneLocation, wait_until


def terminate(env: FaultEnv, run_id: str, reason: str) -> None:
    """`temporal workflow terminate -w run:<id>`, as an operator would."""

    async def go() -> None:
        client = await Client.connect(env.temporal.address, data_converter=data_converter(session_keyring()))
        await client.get_workflow_handle(f"run:{run_id}").terminate(reason=reason)

    asyncio.run(go())


@dataclass
class OperatorSteering(OneLocation):
    """Terminate a running run's workflow; cancel a queued run, then let an agent come; cancel a finished run."""

    name: str = "operator: terminate, cancel queued/closed"
    idle: AgentProcess | None = None
    idle_location: str = ""
    idle_server: str = ""
    recoveries: list[float] = field(default_factory=list)

    def setup(self, env: FaultEnv) -> None:
        super().setup(env)
        # A second location whose queue's only agent is stopped during a trial: its runs wait QUEUED.
        self.idle = AgentProcess(
            temporal_address=env.temporal.address,
            control_plane_url=env.plane.url,
            agent_token=env.agent_token,
            task_queue=f"{env.queue}-idle",
            state_dir=env.root / "idle-agent-state",
            log_file=env.root / "idle-agent.log",
        ).start()
        spec = env.spec("idle", agent_queue=f"{env.queue}-idle", working_dir=env.spec()["working_dir"])
        view = env.stack.add_location(spec)
        self.idle_location, self.idle_server = view["name"], view["server"]

    def trial(self, env: FaultEnv) -> Audit:
        ledger = Ledger(env.client, env.state_dir)
        terminated = ledger.sleepy(self.location, 30, statuses=frozenset({"FAILURE"}))
        finished = ledger.launch(self.location, "greet", {"name": "done"}, log_lines=1)
        assert ledger.wait_all({"STARTED"}, 30, [terminated]), env.agent_logs()
        assert ledger.wait_all({"SUCCESS"}, 30, [finished]), env.agent_logs()

        terminate(env, terminated, "chaos: operator terminate")
        started = time.monotonic()
        wait_until(lambda: (ledger.view(terminated) or {}).get("status") == "FAILURE", 30, "the terminate to show")
        self.recoveries.append(time.monotonic() - started)

        assert self.idle is not None
        self.idle.stop()
        queued = ledger.launch(self.idle_location, "greet", {"name": "never"}, statuses=frozenset({"CANCELED"}))
        canceled = env.client.post(f"/api/runs/{queued}/cancel")
        late = [env.client.post(f"/api/runs/{run}/cancel") for run in (finished, terminated)]
        self.idle.start()  # the workflow runs now: it must end CANCELED without ever launching its worker
        ledger.settle(60)

        audit = ledger.audit(keep_servers={self.server})
        audit.recovery_s = max(audit.recovery_s, self.recoveries[-1])
        if canceled.status_code != 202:
            audit.problems.append(f"cancel of a queued run: {canceled.status_code} {canceled.text}")
            audit.lost += 1
        for run, answer in zip((finished, terminated), late, strict=True):
            if answer.status_code != 409:
                audit.problems.append(f"cancel of finished run {run}: {answer.status_code} {answer.text}")
                audit.lost += 1
        reason = audit.views.get(terminated, {}).get("reason", "")
        if "workflow terminated" not in reason:
            audit.problems.append(f"terminated run {terminated}: reason {reason!r}")
            audit.lost += 1
        idle_runs = env.root / "idle-agent-state" / "runs"
        if any((d / "pid.json").exists() for d in idle_runs.glob(f"run-{queued}-a*")):
            audit.problems.append(f"the canceled queued run {queued} was launched")
            audit.duplicated += 1
        return audit

    def teardown(self, env: FaultEnv) -> None:
        """Stop the idle queue's agent and kill what it started."""
        if self.idle is not None:
            self.idle.stop()
            self.idle.kill_leftovers()
