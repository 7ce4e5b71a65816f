"""Orchestration overhead: a no-op Longshoreman run end to end vs a bare Temporal workflow doing the same work.

Both on the same dev server in one run, alternating one of each: the bare workflow (bench/baseline_workflow.py,
in the SDK's default sandboxed runner, like ours) has one activity that spawns the same run executor for the
same no-op job; the Longshoreman run goes POST /api/runs → control plane → RunWorkflow → agent → run worker →
SUCCESS in the control plane, awaited with the run's long poll `GET /api/runs/{id}/wait` — as the bare side
awaits its result with Temporal's long poll.

By default every Longshoreman run goes through the run queue: a limit on the agent's queue (never reached)
puts each run in the queue, and it leaves it through a dequeue before its workflow starts. `--no-queue` measures
the fast path of a run under no limit instead.

    .venv/bin/python -m bench.orchestration_overhead [--runs 30] [--no-queue]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from urllib.parse import quote

from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline_activity import run_job
from bench.baseline_workflow import BareWorkflow
from bench.stack_helpers import LOCATION, bench_stack, percentile, say, summary
from contracts.api import LaunchRunResponse
from contracts.run_limits import LimitSet, LimitView
from contracts.runs import RunRequest
from longshoreman.cli.api_client import ApiClient
from longshoreman.cli.runs import wait_for_run


def longshoreman_run(client: ApiClient) -> float:
    """Seconds from POST /api/runs to SUCCESS visible in the control plane."""
    t0 = time.perf_counter()
    run_id = client.send("POST", "/api/runs", RunRequest(location=LOCATION, job="noop"), LaunchRunResponse).run.id
    run = wait_for_run(client, run_id, timeout_s=60)
    elapsed = time.perf_counter() - t0
    if run.status != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {run.status}: {run.reason}")
    return elapsed


async def interleaved(temporal: Client, client: ApiClient, runs: int, gap_s: float) -> tuple[list[float], list[float]]:
    """Seconds per bare workflow (start → result) and per Longshoreman run, alternating one of each.

    Alternating keeps both under the same conditions: the dev server's latency drifts as its database grows
    (a bare series run first and a Longshoreman series after it differ by ~15 % for that alone). Each run starts
    `gap_s` after the previous one ended, on a quiet machine: work one side leaves behind (the agent starting
    its next standby worker) must not slow the other side's run.
    """
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    bare: list[float] = []
    ours: list[float] = []
    async with Worker(
        temporal,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[run_job],
    ):
        for i in range(runs + 2):
            await asyncio.sleep(gap_s)
            t0 = time.perf_counter()
            code = await temporal.execute_workflow(BareWorkflow.run, "noop", id=f"bare-{queue}-{i}", task_queue=queue)
            elapsed = time.perf_counter() - t0
            if code != 0:
                raise SystemExit(f"the bare job exited {code}")
            await asyncio.sleep(gap_s)
            ours_elapsed = await asyncio.to_thread(longshoreman_run, client)
            if i >= 2:  # warm-up
                bare.append(elapsed)
                ours.append(ours_elapsed)
                say(f"pair {i - 1}/{runs}: bare {elapsed * 1000:.0f} ms, Longshoreman {ours_elapsed * 1000:.0f} ms")
    return bare, ours


async def plain_interleaved(
    address: str, client: ApiClient, runs: int, gap_s: float
) -> tuple[list[float], list[float]]:
    """`interleaved` with the bare side on a plaintext connection to `address`."""
    return await interleaved(await Client.connect(address), client, runs, gap_s)


def main(argv: list[str] | None = None) -> int:
    """Run both, alternating, on one stack, and print the ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds of quiet before each run")
    parser.add_argument("--cold", action="store_true", help="agent without standby run workers")
    parser.add_argument("--no-queue", action="store_true", help="runs under no limit: the fast path, no dequeue")
    args = parser.parse_args(argv)
    agent_env = {"LONGSHOREMAN_STANDBY_WORKERS": "false"} if args.cold else {}
    with bench_stack(agent_env) as stack, stack.client() as client:
        assert stack.temporal is not None
        if not args.no_queue:
            scope = quote(f"queue:{stack.config.task_queue}", safe="")
            client.send("PUT", f"/api/limits/{scope}", LimitSet(max_concurrent=1000), LimitView)
        bare, ours = asyncio.run(plain_interleaved(stack.temporal.address, client, args.runs, args.gap))
    ratio = percentile(ours, 50) / percentile(bare, 50)
    path = "fast path, no limit" if args.no_queue else "through the run queue"
    path += " (cold workers)" * args.cold
    print(f"orchestration overhead: no-op job, sequential, alternating, same dev server, {path}")
    print(f"  bare workflow + 1 activity   {summary(bare)}")
    print(f"  Longshoreman run             {summary(ours)}")
    print(f"  ratio of p50                 {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
