"""Supervision at scale on the docker launcher: N concurrently running sleeping containers, one agent.

Launches N runs of a quiet sleeping job (one container each), waits until all are STARTED, then samples over
a steady-state window the agent's RSS and CPU — and dockerd's CPU, which would show an agent that polls the
engine per container (this one reads one event stream into a cache). Finally every run must reach SUCCESS.

    .venv/bin/python -m bench.docker_supervision [--runs 200] [--seconds 150] [--window 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil

from bench.docker_helpers import LOCATION, docker_bench_stack, say


def count(client: httpx.Client, status: str) -> int:
    """Runs of the bench location with this status."""
    return len(client.get(f"/api/runs?location={LOCATION}&status={status}&limit=1000").json()["runs"])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until true; exit with a message after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(2)


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU time of a process and its children (dockerd: with containerd)."""
    total = 0.0
    for proc in [process, *process.children(recursive=False)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=150.0, help="how long each job sleeps")
    parser.add_argument("--window", type=float, default=30.0, help="steady-state sampling window in seconds")
    parser.add_argument("--network", default="bridge")
    args = parser.parse_args(argv)

    dockerd = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "dockerd")
    with docker_bench_stack(args.network) as stack:
        assert stack.agent.process is not None
        agent = psutil.Process(stack.agent.process.pid)
        client = stack.client
        started = time.monotonic()

        def launch(_: int) -> str:
            body = {"location": LOCATION, "job": "nap", "config": {"seconds": args.seconds}}
            response = client.post("/api/runs", json=body)
            response.raise_for_status()
            return str(response.json()["run"]["id"])

        with ThreadPoolExecutor(8) as pool:
            run_ids = list(pool.map(launch, range(args.runs)))
        say(f"{len(run_ids)} runs submitted in {time.monotonic() - started:.1f} s")
        wait_until(lambda: count(client, "STARTED") >= args.runs, args.seconds, "all runs STARTED")
        ramp = time.monotonic() - started
        say(f"all {args.runs} runs STARTED after {ramp:.1f} s; sampling for {args.window:.0f} s")
        time.sleep(3)  # let the start-up burst settle
        agent_before, dockerd_before = cpu_seconds(agent), cpu_seconds(dockerd)
        t0 = time.monotonic()
        peak_rss = 0
        while time.monotonic() - t0 < args.window:
            peak_rss = max(peak_rss, agent.memory_info().rss)
            time.sleep(1)
        elapsed = time.monotonic() - t0
        agent_cpu = (cpu_seconds(agent) - agent_before) / elapsed
        dockerd_cpu = (cpu_seconds(dockerd) - dockerd_before) / elapsed
        running = count(client, "STARTED")
        wait_until(
            lambda: count(client, "SUCCESS") + count(client, "FAILURE") >= args.runs,
            args.seconds + 600,
            "all runs to finish",
        )
        successes = count(client, "SUCCESS")

    print(f"docker supervision: {args.runs} concurrent sleeping containers, one agent, {args.network} network")
    print(f"  submit -> all STARTED          {ramp:8.1f} s")
    print(f"  runs running in the window      {running:8d}")
    print(f"  agent RSS (peak in window)      {peak_rss / 2**20:8.1f} MB")
    print(f"  agent CPU (steady state)        {agent_cpu * 100:8.1f} % of one core")
    print(f"  dockerd+containerd CPU (steady) {dockerd_cpu * 100:8.1f} % of one core")
    print(f"  runs SUCCESS                    {successes:8d} / {args.runs}")
    return 0 if successes == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
