"""Supervision at scale: N concurrently running sleeping jobs on one agent (process launcher).

Launches N runs of a quiet sleeping job, waits until all are STARTED, then samples the agent process's
RSS and CPU over a steady-state window, and finally checks that every run reaches SUCCESS.

    .venv/bin/python bench/supervision_scale.py [--runs 1000] [--seconds 240] [--window 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil

from bench.stack_helpers import LOCATION, bench_stack, count_runs, say, wait_until
from contracts.api import LaunchRunResponse
from contracts.runs import RunRequest


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=240.0, help="how long each job sleeps")
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
                started_now = count_runs(client, "STARTED")
                if time.monotonic() - progress["at"] > 10:
                    progress["at"] = time.monotonic()
                    say(
                        f"{started_now} STARTED, {count_runs(client, 'STARTING')} STARTING, agent RSS "
                        f"{agent.memory_info().rss / 2**20:.0f} MB"
                    )
                return started_now >= args.runs

            wait_until(all_started, args.seconds, "all runs STARTED", 2)
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
            running = count_runs(client, "STARTED")
            wait_until(
                lambda: count_runs(client, "SUCCESS") + count_runs(client, "FAILURE") >= args.runs,
                args.seconds + 600,
                "all runs to finish",
                2,
            )
            successes = count_runs(client, "SUCCESS")

    print(f"supervision at scale: {args.runs} concurrent sleeping runs, process launcher, one agent")
    print(f"  submit -> all STARTED       {ramp:8.1f} s")
    print(f"  runs running in the window   {running:8d}")
    print(f"  agent RSS (peak in window)   {peak_rss / 2**20:8.1f} MB")
    print(f"  agent CPU (steady state)     {cpu * 100:8.1f} % of one core")
    print(f"  runs SUCCESS                 {successes:8d} / {args.runs}")
    return 0 if successes == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
