"""Orchestration overhead: a no-op Longshoreman run end to end vs a bare Temporal workflow doing the same work.

Both on the same dev server in one run: the bare workflow's single activity spawns the same run executor
for the same no-op job (bench/baseline_workflow.py); the Longshoreman run goes POST /api/runs → control
plane → RunWorkflow → agent → run worker → SUCCESS in the control plane (polled every 5 ms).

    .venv/bin/python -m bench.orchestration_overhead [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.baseline_workflow import BareWorkflow, run_job
from bench.stack_helpers import LOCATION, bench_stack, percentile, say, summary
from contracts.api import LaunchRunResponse, RunView
from contracts.runs import RunRequest
from longshoreman.cli.api_client import ApiClient


def longshoreman_run(client: ApiClient) -> float:
    """Seconds from POST /api/runs to SUCCESS visible in the control plane."""
    t0 = time.perf_counter()
    run_id = client.send("POST", "/api/runs", RunRequest(location=LOCATION, job="noop"), LaunchRunResponse).run.id
    while True:
        run = client.get(f"/api/runs/{run_id}", RunView)
        if run.status.is_terminal:
            if run.status != "SUCCESS":
                raise SystemExit(f"run {run_id} ended {run.status}: {run.reason}")
            return time.perf_counter() - t0
        time.sleep(0.005)


async def bare_runs(address: str, runs: int) -> list[float]:
    """Seconds per bare workflow execution (start → result), sequentially."""
    client = await Client.connect(address)
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    results = []
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[run_job],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        for i in range(runs + 2):
            t0 = time.perf_counter()
            code = await client.execute_workflow(BareWorkflow.run, "noop", id=f"bare-{queue}-{i}", task_queue=queue)
            if code != 0:
                raise SystemExit(f"the bare job exited {code}")
            if i >= 2:  # warm-up
                results.append(time.perf_counter() - t0)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run both, interleaved in one process, and print the ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    with bench_stack() as stack:
        assert stack.temporal is not None
        bare = asyncio.run(bare_runs(stack.temporal.address, args.runs))
        with stack.client() as client:
            for _ in range(2):
                longshoreman_run(client)
            ours = []
            for i in range(args.runs):
                ours.append(longshoreman_run(client))
                say(f"run {i + 1}/{args.runs}: {ours[-1] * 1000:.0f} ms")
    ratio = percentile(ours, 50) / percentile(bare, 50)
    print("orchestration overhead: no-op job, sequential, same dev server")
    print(f"  bare workflow + 1 activity   {summary(bare)}")
    print(f"  Longshoreman run             {summary(ours)}")
    print(f"  ratio of p50                 {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
