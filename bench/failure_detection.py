"""Failure detection: how fast a killed run worker, code server or agent is noticed and handled.

1. kill -9 a run worker        -> the run is FAILURE in the control plane
2. kill -9 the code server     -> a replacement is LOADED in the control plane
3. kill -9 the agent mid-run   -> a replica resumes supervision (its attempt of the supervision activity
                                  runs); then the worker is killed too, and the replica reports FAILURE

    .venv/bin/python bench/failure_detection.py [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.stack_helpers import LOCATION, bench_stack, say, summary
from contracts.api import LaunchRunResponse, LocationView, RunView
from contracts.runs import RunRequest
from contracts.supervision_lease import lease_queue
from longshoreman.cli.api_client import ApiClient
from longshoreman.dev.stack import DevStack
from longshoreman.dev.temporal_server import free_port

POLL_S = 0.01


def pid_in(state_dir: Path, kind: str, name: str, timeout_s: float = 30) -> int:
    """Pid the process launcher recorded for a server or worker."""
    path = state_dir / kind / name / "pid.json"
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no pid for {name}")
        time.sleep(POLL_S)
    return int(json.loads(path.read_text())["pid"])


def start_run(client: ApiClient) -> str:
    """Launch a long nap and wait until it is STARTED."""
    body = RunRequest(location=LOCATION, job="nap", config={"seconds": 300})
    run_id = client.send("POST", "/api/runs", body, LaunchRunResponse).run.id
    wait_status(client, run_id, {"STARTED"}, 60)
    return run_id


def wait_status(client: ApiClient, run_id: str, statuses: set[str], timeout_s: float) -> RunView:
    """Poll a run until its status is in `statuses`."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = client.get(f"/api/runs/{run_id}", RunView)
        if run.status in statuses:
            return run
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} still {run.status} after {timeout_s:.0f} s")
        time.sleep(POLL_S)


def killed_worker(stack: DevStack, client: ApiClient) -> float:
    """Seconds from kill -9 of a run worker to FAILURE in the control plane."""
    run_id = start_run(client)
    pid = pid_in(stack.agent_state_dir, "runs", f"run-{run_id}-a1")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_status(client, run_id, {"FAILURE"}, 60)
    return time.monotonic() - t0


def killed_server(stack: DevStack, client: ApiClient) -> float:
    """Seconds from kill -9 of the code server to a replacement LOADED in the control plane."""
    before = client.get(f"/api/locations/{LOCATION}", LocationView)
    assert before.server is not None
    pid = pid_in(stack.agent_state_dir, "servers", before.server)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while True:
        view = client.get(f"/api/locations/{LOCATION}", LocationView)
        if view.status == "LOADED" and view.server != before.server:
            elapsed = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 120:
            raise SystemExit("no replacement server within 120 s")
        time.sleep(POLL_S)
    # Let the server be stable (bench location: 2 s) so the next kill is a one-off crash, not a crash loop.
    time.sleep(2.5)
    return elapsed


def killed_agent(stack: DevStack, client: ApiClient) -> tuple[float, float]:
    """Seconds from kill -9 of the supervising agent until a replica supervises the run again (its attempt of
    the supervision activity has started), and until, the worker then killed too, the run is FAILURE."""
    run_id = start_run(client)
    replica = start_replica(stack)
    try:
        # The replica must be up (it polls the queue and the lease queue) before the kill: its start-up is not
        # takeover time, and on a busy machine it takes seconds.
        asyncio.run(_wait_polling(stack, f"{replica.pid}@"))
        original = stack.processes["agent"].popen
        t0 = time.monotonic()
        original.kill()
        original.wait()
        asyncio.run(_wait_resumed(stack, run_id, f"{replica.pid}@"))
        resumed = time.monotonic() - t0
        t1 = time.monotonic()
        os.kill(pid_in(stack.agent_state_dir, "runs", f"run-{run_id}-a1"), signal.SIGKILL)
        wait_status(client, run_id, {"FAILURE"}, 120)
        failed = time.monotonic() - t1
    finally:
        # The replica becomes the stack's agent for the next trial; the killed one is gone.
        stack.processes["agent"].popen = replica
    return resumed, failed


async def _wait_resumed(stack: DevStack, run_id: str, replica_identity: str, timeout_s: float = 60) -> None:
    """Until the run's pending supervision activity runs on the replica."""
    assert stack.temporal is not None
    temporal = await Client.connect(stack.temporal.address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        description = await temporal.get_workflow_handle(f"run:{run_id}").describe()
        for pending in description.raw_description.pending_activities:
            started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            if started and pending.last_worker_identity.startswith(replica_identity):
                return
        await asyncio.sleep(POLL_S)
    raise SystemExit(f"no replica resumed the supervision of run {run_id} within {timeout_s:.0f} s")


async def _wait_polling(stack: DevStack, identity: str, timeout_s: float = 120) -> None:
    """Until a worker named `identity` polls both the agent's task queue and its lease queue."""
    assert stack.temporal is not None
    temporal = await Client.connect(stack.temporal.address)
    queues = [stack.config.task_queue, lease_queue(stack.config.task_queue)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        polled = []
        for queue in queues:
            answer = await temporal.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=temporal.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            polled.append(any(poller.identity.startswith(identity) for poller in answer.pollers))
        if all(polled):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the replica {identity} did not poll {queues} within {timeout_s:.0f} s")


def start_replica(stack: DevStack) -> subprocess.Popen[bytes]:
    """A second agent on the same task queue and state directory, as a replica on the same host would be."""
    original = stack.processes["agent"].popen
    env = _environ(original.pid)
    env["LONGSHOREMAN_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"  # the original holds its port
    with open(stack.logs_dir / "agent-replica.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--agent-trials", type=int, default=0, help="agent kills (default: a quarter of --trials, at least 1)"
    )
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {"worker": [], "server": [], "agent": [], "resumed": []}
    with bench_stack() as stack, stack.client(timeout_s=30) as client:
        for i in range(args.trials):
            results["worker"].append(killed_worker(stack, client))
            results["server"].append(killed_server(stack, client))
            worker, server = results["worker"][-1], results["server"][-1]
            say(f"trial {i + 1}/{args.trials}: worker {worker:.2f} s, server {server:.2f} s")
        for i in range(args.agent_trials or max(1, args.trials // 4)):
            resumed, failed = killed_agent(stack, client)
            results["resumed"].append(resumed)
            results["agent"].append(failed)
            say(
                f"agent trial {i + 1}: supervision resumed after {resumed:.2f} s, "
                f"worker death seen after {failed:.2f} s"
            )
        for proc in stack.processes.values():
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
    print("failure detection (kill -9), process launcher")
    print(f"  run worker killed -> FAILURE         {summary(results['worker'])}")
    print(f"  code server killed -> new LOADED     {summary(results['server'])}")
    print(f"  agent killed -> replica supervises   {summary(results['resumed'])}")
    print(f"  then worker killed -> FAILURE        {summary(results['agent'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
