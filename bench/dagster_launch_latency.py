"""Dagster launch latency: from just before `POST /api/runs` to the run's first STEP_START, for a one-asset job.

Starts its own dev stack (Temporal dev server, control plane, one agent with the process launcher) in a
temporary state dir, deploys examples/hello and examples/dagster_etl (framework dagster), then launches N
sequential runs of each: the Dagster job `orders_job` (one asset) and, for comparison, our SDK's `greet`
(its first event is JOB_START: the job's code starting, as a step's code starts at STEP_START). The times are
the run worker's own event timestamps, on the same machine as the client's clock.

    .venv/bin/python -m bench.dagster_launch_latency [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.launch_latency import percentile
from contracts.api import EventList, LaunchRunResponse, LocationView, RunView
from contracts.locations import LocationSpec
from contracts.run_protocol import RunStatus
from contracts.runs import RunRequest
from longshoreman.cli.api_client import ApiClient
from longshoreman.dev.stack import EXAMPLE_NAME, DevStack, DevStackConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_LOCATION = "dagster-etl"
POLL_S = 0.005


def one_run(client: ApiClient, location: str, job: str, first_event: str, timeout_s: float) -> float:
    """Launch one run and wait for its end; ms from the launch to its first `first_event` event."""
    before = datetime.now(UTC)
    request = RunRequest(location=location, job=job, tags={"bench": "dagster_launch_latency"})
    run_id = client.send("POST", "/api/runs", request, LaunchRunResponse).run.id
    deadline = time.monotonic() + timeout_s
    while True:
        run = client.get(f"/api/runs/{run_id}", RunView)
        if run.status.is_terminal:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} is still {run.status} after {timeout_s:.0f} s")
        time.sleep(POLL_S if run.status is not RunStatus.STARTED else 0.05)
    if run.status is not RunStatus.SUCCESS:
        raise SystemExit(f"run {run_id} ended {run.status}: {run.reason}")
    events = client.get(f"/api/runs/{run_id}/events", EventList).events
    found = next((event for event in events if event.type == first_event), None)
    if found is None:
        raise SystemExit(f"run {run_id} has no {first_event} event")
    return (found.time - before).total_seconds() * 1000


def measure(client: ApiClient, location: str, job: str, first_event: str, runs: int, timeout_s: float) -> list[float]:
    """One warm-up run, then `runs` measured sequential runs."""
    one_run(client, location, job, first_event, timeout_s)
    latencies = []
    for i in range(runs):
        latencies.append(one_run(client, location, job, first_event, timeout_s))
        print(f"\r  {job}: run {i + 1}/{runs}: {latencies[-1]:.0f} ms", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return latencies


def report(what: str, latencies: list[float]) -> None:
    """Print the figures of one series."""
    print(f"{what}, {len(latencies)} sequential runs")
    print(f"  p50  {percentile(latencies, 50):7.1f} ms")
    print(f"  p95  {percentile(latencies, 95):7.1f} ms")
    print(f"  min  {min(latencies):7.1f} ms   max {max(latencies):7.1f} ms")
    print(f"  mean {statistics.fmean(latencies):7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="sequential runs per job (default 20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one run may take (default 120)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="longshoreman-bench-") as tmp:
        config = DevStackConfig(state_dir=Path(tmp), port=0, temporal_port=0, ui_port=0)
        with DevStack(config, say=lambda message: print(f"  {message}", file=sys.stderr)) as stack:
            stack.deploy_example()
            spec = LocationSpec(
                name=DAGSTER_LOCATION,
                module="examples.dagster_etl.definitions",
                framework="dagster",
                working_dir=str(REPO_ROOT),
                agent_queue=config.task_queue,
            )
            with stack.client() as client:
                client.send("POST", "/api/locations", spec, LocationView)
                stack.wait_loaded(client, DAGSTER_LOCATION)
                dagster = measure(client, DAGSTER_LOCATION, "orders_job", "STEP_START", args.runs, args.timeout)
                sdk = measure(client, EXAMPLE_NAME, "greet", "JOB_START", args.runs, args.timeout)

    report("Dagster one-asset job (orders_job): POST /api/runs -> first STEP_START", dagster)
    report("our SDK's job (greet): POST /api/runs -> JOB_START", sdk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
