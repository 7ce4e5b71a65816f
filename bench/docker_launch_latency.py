"""Container launch latency: from just before `POST /api/runs` to the job's first log line, docker launcher.

Each run is one new container (create + start + Python start-up + job import) on the local engine; the
first line's timestamp is taken inside the container by the run executor. N sequential runs after a warm-up.

    .venv/bin/python -m bench.docker_launch_latency [--runs 30] [--network bridge|host]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

import httpx

from bench.docker_helpers import LOCATION, docker_bench_stack, say
from bench.stack_helpers import percentile


def one_run(client: httpx.Client, timeout_s: float) -> float:
    """Launch one `nap` run of 0 s, wait for its first line and its end; the latency in ms."""
    before = datetime.now(UTC)
    response = client.post("/api/runs", json={"location": LOCATION, "job": "nap", "config": {"seconds": 0}})
    response.raise_for_status()
    run_id = response.json()["run"]["id"]
    deadline = time.monotonic() + timeout_s
    first: datetime | None = None
    while first is None:
        lines = client.get(f"/api/runs/{run_id}/logs").json()["lines"]
        if lines:
            first = datetime.fromisoformat(min(lines, key=lambda line: line["seq"])["time"])
        elif time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} printed nothing within {timeout_s:.0f} s")
        else:
            time.sleep(0.005)
    while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} still {run['status']} after {timeout_s:.0f} s")
        time.sleep(0.02)
    if run["status"] != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {run['status']}: {run['reason']}")
    return (first - before).total_seconds() * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="sequential runs to measure (default 30)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--network", default="bridge", help="bridge (default) or host")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    with docker_bench_stack(args.network) as stack:
        for _ in range(args.warmup):
            one_run(stack.client, args.timeout)
        latencies = []
        for i in range(args.runs):
            latencies.append(one_run(stack.client, args.timeout))
            say(f"run {i + 1}/{args.runs}: {latencies[-1]:.0f} ms")

    print(f"docker launch latency: POST /api/runs -> first log line, {len(latencies)} sequential runs, {args.network}")
    print(f"  p50  {percentile(latencies, 50):7.1f} ms")
    print(f"  p95  {percentile(latencies, 95):7.1f} ms")
    print(f"  min  {min(latencies):7.1f} ms")
    print(f"  max  {max(latencies):7.1f} ms")
    print(f"  mean {statistics.fmean(latencies):7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
