"""Launch latency: from just before `POST /api/runs` to the timestamp of the run's first log line.

Starts its own dev stack (Temporal dev server, control plane, one agent with the process launcher) in a
temporary state dir, deploys examples/hello, then launches N sequential runs of a job that prints a line
as soon as it starts, and prints p50/p95/min/max in milliseconds.

    .venv/bin/python bench/launch_latency.py [--runs 50] [--job greet] [--config '{}']
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from contracts.api import LaunchRunResponse, LogList, RunView
from contracts.run_protocol import RunStatus
from contracts.runs import RunRequest
from longshoreman.cli.api_client import ApiClient
from longshoreman.dev.stack import EXAMPLE_NAME, DevStack, DevStackConfig

POLL_S = 0.005


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values`."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def one_run(client: ApiClient, job: str, config: dict[str, object], timeout_s: float) -> float:
    """Launch one run, wait for its first log line and for its end; the launch-to-first-line latency in ms."""
    request = RunRequest(location=EXAMPLE_NAME, job=job, config=config, tags={"bench": "launch_latency"})
    before = datetime.now(UTC)
    run_id = client.send("POST", "/api/runs", request, LaunchRunResponse).run.id
    deadline = time.monotonic() + timeout_s
    first = None
    while first is None:
        lines = client.get(f"/api/runs/{run_id}/logs", LogList).lines
        if lines:
            first = min(lines, key=lambda line: line.seq).time
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} printed nothing within {timeout_s:.0f} s")
        time.sleep(POLL_S)
    # Sequential runs: the next launch starts once this one is over.
    while True:
        run = client.get(f"/api/runs/{run_id}", RunView)
        if run.status.is_terminal:
            if run.status is not RunStatus.SUCCESS:
                raise SystemExit(f"run {run_id} ended {run.status}: {run.reason}")
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} is still {run.status} after {timeout_s:.0f} s")
        time.sleep(0.02)
    return (first - before).total_seconds() * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50, help="sequential runs to measure (default 50)")
    parser.add_argument("--warmup", type=int, default=2, help="runs launched first and not measured (default 2)")
    parser.add_argument("--job", default="greet", help="job of examples/hello to launch (default greet)")
    parser.add_argument("--config", default="{}", help="run config as a JSON object (default {})")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one run may take (default 60)")
    args = parser.parse_args(argv)
    config = json.loads(args.config)

    with tempfile.TemporaryDirectory(prefix="longshoreman-bench-") as tmp:
        stack = DevStack(
            DevStackConfig(state_dir=Path(tmp), port=0, temporal_port=0, ui_port=0),
            say=lambda message: print(f"  {message}", file=sys.stderr),
        )
        with stack:
            stack.deploy_example()
            with stack.client() as client:
                for _ in range(args.warmup):
                    one_run(client, args.job, config, args.timeout)
                latencies = []
                for i in range(args.runs):
                    latencies.append(one_run(client, args.job, config, args.timeout))
                    print(f"\r  run {i + 1}/{args.runs}: {latencies[-1]:.0f} ms", end="", file=sys.stderr, flush=True)
                print(file=sys.stderr)

    print(f"launch latency: POST /api/runs -> first log line of job {args.job!r}, {len(latencies)} sequential runs")
    print(f"  p50  {percentile(latencies, 50):7.1f} ms")
    print(f"  p95  {percentile(latencies, 95):7.1f} ms")
    print(f"  min  {min(latencies):7.1f} ms")
    print(f"  max  {max(latencies):7.1f} ms")
    print(f"  mean {statistics.fmean(latencies):7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
