"""Supervision at scale: N concurrently running sleeping jobs on one agent (process launcher).

Launches N runs of a quiet sleeping job, waits until all are STARTED, then samples the agent process's
RSS and CPU over a steady-state window, checks that every run reaches SUCCESS, and counts false takeovers:
activity attempts after the first (a heartbeat late enough for Temporal to give the supervision up) and
hand-overs (the agent's supervision lease timed out while it lived, and its watches were started again).

    .venv/bin/python bench/supervision_scale.py [--runs 1000] [--seconds 240] [--window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import psutil
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from bench.stack_helpers import LOCATION, bench_stack, count_runs, say, wait_until
from contracts.api import LaunchRunResponse
from contracts.runs import RunRequest
from contracts.supervision_lease import SUPERVISION_LOST_SIGNAL


class Takeovers(NamedTuple):
    """What the runs' histories say about their supervision while the one agent lived."""

    runs_taken_over: int  # runs with an activity retried, moved to another worker, or a workflow task timed out
    activity_retries: int  # activity attempts after the first
    heartbeat_misses: int  # attempts ended by a heartbeat timeout (the cause of a retry above)
    workflow_task_timeouts: int  # a workflow task handed on because the agent answered too late
    hand_overs: int  # supervision_lost signals: the agent's lease was given up while it lived


async def takeovers(address: str, run_ids: list[str]) -> Takeovers:
    """Count, in every run's history, each sign that Temporal gave a live agent's work up: with one agent alive
    throughout, each is a false takeover."""
    temporal = await Client.connect(address)
    gate = asyncio.Semaphore(16)

    async def count(run_id: str) -> tuple[int, int, int, int, int]:
        async with gate:
            history = await temporal.get_workflow_handle(f"run:{run_id}").fetch_history()
        retries = misses = task_timeouts = hand_overs = 0
        identities = set()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                identities.add(started.identity)
                if started.attempt > 1:
                    retries += 1
                    timeout = started.last_failure.timeout_failure_info
                    misses += int(timeout.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                attributes = event.workflow_task_timed_out_event_attributes
                # A sticky queue's schedule-to-start timeout is the cache giving up, not a takeover.
                task_timeouts += int(attributes.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                signal = event.workflow_execution_signaled_event_attributes.signal_name
                hand_overs += int(signal == SUPERVISION_LOST_SIGNAL)
        taken = int(retries > 0 or task_timeouts > 0 or hand_overs > 0 or len(identities) > 1)
        return taken, retries, misses, task_timeouts, hand_overs

    counts = await asyncio.gather(*(count(run_id) for run_id in run_ids))
    return Takeovers(*(sum(column) for column in zip(*counts, strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--seconds", type=float, default=240.0, help="how long each job sleeps (longer than the ramp and the window)"
    )
    parser.add_argument("--ramp-timeout", type=float, default=900.0, help="give up if not all STARTED by then")
    parser.add_argument("--window", type=float, default=30.0, help="steady-state sampling window in seconds")
    parser.add_argument("--rate", type=float, default=0.0, help="launches per second (0: as fast as possible)")
    parser.add_argument(
        "--agent-env", action="append", default=[], metavar="NAME=VALUE", help="an agent setting (repeatable)"
    )
    args = parser.parse_args(argv)
    agent_env = dict(pair.split("=", 1) for pair in args.agent_env)

    with bench_stack(agent_env) as stack:
        agent = psutil.Process(stack.processes["agent"].popen.pid)
        with stack.client(timeout_s=120) as client:
            started = time.monotonic()

            def launch(i: int) -> str:
                if args.rate:
                    # Steady state is what this measures: a paced ramp keeps 2 cores from drowning in start-ups.
                    time.sleep(max(0.0, started + i / args.rate - time.monotonic()))
                # A ramp of a thousand launches on 2 cores takes minutes: not what this measures.
                body = RunRequest(location=LOCATION, job="nap", config={"seconds": args.seconds}, start_timeout_s=1800)
                return client.send("POST", "/api/runs", body, LaunchRunResponse).run.id

            with ThreadPoolExecutor(8) as pool:
                run_ids = list(pool.map(launch, range(args.runs)))
            say(f"{len(run_ids)} runs submitted in {time.monotonic() - started:.1f} s")
            progress = {"at": 0.0}

            def all_started() -> bool:
                # Every run that got as far as STARTED: a run that already ended counts too, so a slow ramp ends
                # in a figure (the window's live count then says how many ran at once), not in a time-out.
                live = count_runs(client, "STARTED")
                ended = count_runs(client, "SUCCESS") + count_runs(client, "FAILURE") if live < args.runs else 0
                if time.monotonic() - progress["at"] > 10:
                    progress["at"] = time.monotonic()
                    say(
                        f"{live} STARTED, {ended} ended, {count_runs(client, 'STARTING')} STARTING, "
                        f"{count_runs(client, 'QUEUED')} QUEUED, agent RSS {agent.memory_info().rss / 2**20:.0f} MB, "
                        f"{time.monotonic() - started:.0f} s"
                    )
                return live + ended >= args.runs

            wait_until(all_started, args.ramp_timeout, "all runs STARTED", 2)
            ramp = time.monotonic() - started
            say(f"all {args.runs} runs STARTED after {ramp:.1f} s; sampling the agent for {args.window:.0f} s")
            time.sleep(3)  # let the start-up burst settle
            cpu_before = agent.cpu_times()
            t0 = time.monotonic()
            peak_rss = 0
            while time.monotonic() - t0 < args.window:
                peak_rss = max(peak_rss, agent.memory_info().rss)
                time.sleep(1)
            cpu_after = agent.cpu_times()
            elapsed = time.monotonic() - t0
            cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
            running = count_runs(client, "STARTED")  # all of them, if the jobs outlast the ramp and the window
            wait_until(
                lambda: count_runs(client, "SUCCESS") + count_runs(client, "FAILURE") >= args.runs,
                args.seconds + 600,
                "all runs to finish",
                2,
            )
            successes = count_runs(client, "SUCCESS")
            assert stack.temporal is not None
            taken = asyncio.run(takeovers(stack.temporal.address, run_ids))

    print(f"supervision at scale: {args.runs} concurrent sleeping runs, process launcher, one agent")
    print(f"  submit -> all STARTED       {ramp:8.1f} s")
    print(f"  runs running in the window   {running:8d}")
    print(f"  agent RSS (peak in window)   {peak_rss / 2**20:8.1f} MB")
    print(f"  agent CPU (steady state)     {cpu * 100:8.1f} % of one core")
    print(f"  runs SUCCESS                 {successes:8d} / {args.runs}")
    print(f"  runs supervised to the end   {successes:8d}")
    print(f"  false takeovers (runs)       {taken.runs_taken_over:8d}   (work moved or retried while the agent lived)")
    print(f"    activity retries           {taken.activity_retries:8d}")
    print(f"    heartbeat misses           {taken.heartbeat_misses:8d}   (attempts ended by a heartbeat timeout)")
    print(f"    workflow task timeouts     {taken.workflow_task_timeouts:8d}")
    print(f"    lease hand-overs           {taken.hand_overs:8d}   (the agent's lease given up while it lived)")
    return 0 if successes == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
