"""Launch throughput: runs/s of no-op runs from concurrent clients, with the control plane on SQLite or PostgreSQL,
next to a bare Temporal workflow + activity spawning the same executor under the same concurrent load.

Starts its own dev stack (Temporal dev server, control plane, one agent with the process launcher), the control
plane on a SQLite file or on a throw-away PostgreSQL cluster (tests/support/postgres.py, with PostgreSQL's
default durability: fsync and synchronous commits on), and deploys the bench location. Then each of N client
threads launches a `noop` run, waits for its end with `GET /api/runs/{id}/wait` and launches the next, until
the runs are done. Prints runs/s (runs / first launch → last SUCCESS) and p50/p95 of launch → SUCCESS as the
clients saw it, and the CPU time each process spent per run (Linux /proc: where the time goes).

Then, on the same dev server in the same run, the baseline: N concurrent clients each execute the bare workflow
(bench/baseline_workflow.py, its one activity spawning the run executor for the same no-op job) and wait for its
result, one after the other, as many in all. Prints its runs/s and the ratio of ours to it.

    .venv/bin/python -m bench.launch_throughput [--database sqlite|postgres] [--runs 200] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline_activity import run_job
from bench.baseline_workflow import BareWorkflow
from bench.stack_helpers import LOCATION, bench_stack, say, summary
from contracts.api import LaunchRunResponse
from contracts.runs import RunRequest
from longshoreman.cli.runs import wait_for_run
from longshoreman.dev.stack import DevStack


@contextlib.contextmanager
def database(kind: str) -> Iterator[str | None]:
    """The control plane's database URL: None (the stack's SQLite file) or a new throw-away PostgreSQL cluster's."""
    if kind == "sqlite":
        yield None
        return
    from tests.support.postgres import HOW_TO_INSTALL, PostgresCluster, server_problem

    problem = server_problem()
    if problem is not None:
        raise SystemExit(f"{problem}: {HOW_TO_INSTALL}")
    with PostgresCluster(durable=True) as cluster:
        yield cluster.create_database("bench")


def launch_all(stack: DevStack, runs: int, clients: int, tags: dict[str, str]) -> tuple[float, list[float]]:
    """`runs` no-op runs from `clients` threads, one run at a time each; (wall seconds, launch → SUCCESS each)."""
    numbers = itertools.count()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with stack.client(timeout_s=90) as client:
            while next(numbers) < runs and not failures:
                began = time.perf_counter()
                request = RunRequest(location=LOCATION, job="noop", tags=tags)
                run_id = client.send("POST", "/api/runs", request, LaunchRunResponse).run.id
                run = wait_for_run(client, run_id, timeout_s=120)
                with lock:
                    if run.status != "SUCCESS":
                        failures.append(f"run {run_id} ended {run.status}: {run.reason}")
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(failures[0])
    return time.perf_counter() - started, latencies


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has reaped (run workers, code servers), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def process_cpu(stack: DevStack) -> dict[str, float]:
    """CPU seconds so far of the stack's processes."""
    pids = {name: proc.popen.pid for name, proc in stack.processes.items()}
    if stack.temporal is not None and stack.temporal.process is not None:
        pids["temporal"] = stack.temporal.process.pid
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


async def bare_all(address: str, runs: int, clients: int) -> float:
    """`runs` bare workflows from `clients` concurrent clients, one at a time each; wall seconds."""
    temporal = await Client.connect(address)
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    numbers = itertools.count()

    async def client_loop() -> None:
        while (i := next(numbers)) < runs:
            code = await temporal.execute_workflow(BareWorkflow.run, "noop", id=f"{queue}-{i}", task_queue=queue)
            if code != 0:
                raise SystemExit(f"the bare job exited {code}")

    async with Worker(temporal, task_queue=queue, workflows=[BareWorkflow], activities=[run_job]):
        await asyncio.gather(*(client_loop() for _ in range(clients)))  # warm-up: one each
        numbers = itertools.count()
        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=200, help="runs to measure (default 200)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--warmup", type=int, default=16, help="runs launched first and not measured (default 16)")

    parser.add_argument("--no-baseline", action="store_true", help="skip the bare Temporal baseline")
    args = parser.parse_args(argv)

    with database(args.database) as url, bench_stack(database_url=url) as stack:
        say(f"warming up with {args.warmup} runs")
        launch_all(stack, args.warmup, args.clients, {"bench": "warmup"})
        say(f"launching {args.runs} runs from {args.clients} clients")
        before = process_cpu(stack)
        wall_s, latencies = launch_all(stack, args.runs, args.clients, {"bench": "launch_throughput"})
        cpu = {name: spent - before[name] for name, spent in process_cpu(stack).items()}
        bare_s = None
        if not args.no_baseline:
            assert stack.temporal is not None
            say(f"the bare baseline: {args.runs} workflows from {args.clients} clients")
            bare_s = asyncio.run(bare_all(stack.temporal.address, args.runs, args.clients))

    ours = args.runs / wall_s
    print(f"launch throughput ({args.database}): {args.runs} no-op runs from {args.clients} concurrent clients")
    print(f"  {ours:7.1f} runs/s   ({wall_s:.1f} s from the first launch to the last SUCCESS)")
    print(f"  launch -> SUCCESS   {summary(latencies)}")
    spent = ", ".join(f"{name} {seconds / args.runs * 1000:.0f}" for name, seconds in sorted(cpu.items()))
    print(f"  CPU ms per run: {spent} (agent: with its run workers and code servers)")
    if bare_s is not None:
        bare = args.runs / bare_s
        print(f"  bare workflow + activity: {bare:7.1f} runs/s   ({bare_s:.1f} s)")
        print(f"  ratio to the bare baseline  {ours / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
