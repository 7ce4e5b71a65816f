"""`dagster dev`'s own launch latency, for comparison: launchRun (GraphQL) to the run's first STEP_START.

Starts `dagster dev -m examples.dagster_etl.definitions` (webserver, daemon, code server; Dagster's defaults:
the queued run coordinator, the default run launcher) with a temporary DAGSTER_HOME, waits until the webserver
answers, then launches N sequential runs of `orders_job` (one asset) through the webserver's GraphQL API, as the
UI's Launch button does, and prints p50/p95 from just before the mutation to the STEP_START event's timestamp.
Needs dagster-webserver (`pip install dagster-webserver`): not a dependency of the project.

    .venv/bin/python -m bench.dagster_dev_latency [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.dagster_launch_latency import report
from longshoreman.dev.temporal_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULE = "examples.dagster_etl.definitions"
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
RUN = """
query($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status } }
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { timestamp } } }
  }
}"""
LOCATIONS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


def graphql(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """One GraphQL request's data."""
    answer = client.post("/graphql", json={"query": query, "variables": variables or {}}, timeout=30).json()
    if answer.get("errors"):
        raise SystemExit(f"GraphQL error: {answer['errors'][0].get('message')}")
    return dict(answer["data"])


def one_run(client: httpx.Client, selector: dict[str, str], timeout_s: float) -> float:
    """Launch one run and wait for its end; ms from the launch to its first STEP_START."""
    before = time.time()
    launched = graphql(client, LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launchRun: {launched}")
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + timeout_s
    while True:
        data = graphql(client, RUN, {"runId": run_id})
        status = data["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} is still {status} after {timeout_s:.0f} s")
        time.sleep(0.05)
    if status != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {status}")
    events = data["logsForRun"]["events"]
    start = next(e for e in events if e["__typename"] == "ExecutionStepStartEvent")
    return (int(start["timestamp"]) / 1000 - before) * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="sequential runs (default 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one run may take (default 120)")
    args = parser.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dagster-home-") as home:
        (Path(home) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = dict(os.environ, DAGSTER_HOME=home, PYTHONPATH=str(REPO_ROOT))
        dagster = str(Path(sys.executable).parent / "dagster")
        process = subprocess.Popen(
            [dagster, "dev", "-m", MODULE, "-p", str(port), "-h", "127.0.0.1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        nodes = graphql(client, LOCATIONS)["repositoriesOrError"]["nodes"]
                        if nodes:
                            break
                    except (httpx.HTTPError, ValueError, KeyError, TypeError):
                        pass
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("dagster dev did not start within 120 s")
                    time.sleep(0.5)
                selector = {
                    "repositoryLocationName": nodes[0]["location"]["name"],
                    "repositoryName": nodes[0]["name"],
                    "jobName": "orders_job",
                }
                one_run(client, selector, args.timeout)  # warm-up
                latencies = []
                for i in range(args.runs):
                    latencies.append(one_run(client, selector, args.timeout))
                    print(f"\r  run {i + 1}/{args.runs}: {latencies[-1]:.0f} ms", end="", file=sys.stderr, flush=True)
                print(file=sys.stderr)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    report("dagster dev, one-asset job (orders_job): launchRun -> first STEP_START", latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
