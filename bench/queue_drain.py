"""Run queue drain: N no-op runs submitted at once under a limit of L, on one dev stack.

Starts its own dev stack (Temporal dev server, control plane on SQLite or PostgreSQL, one agent with the process
launcher and standby workers), sets the limit `queue:<the agent's queue>` to L, submits N `noop` runs from
16 client threads as fast as the control plane takes them, then waits until every run is final. Prints:

- the most runs holding a slot at once, sampled every ~20 ms through `GET /api/limits` (must be ≤ L), and the
  most jobs running at once by the run workers' own JOB_START / JOB_SUCCESS events (also ≤ L);
- the drain time (first submit → last final status) and runs/s;
- slot freed → next run's job started, p50/p95: for each run that left the queue after the first L, from the
  final status that freed its slot (the latest `finished_at` before its `dequeued_at`) to its JOB_START; and
  slot freed → dequeued alone (the queue's own share).

    .venv/bin/python -m bench.queue_drain [--runs 1000] [--limit 20] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import sys
import threading
import time
from datetime import datetime
from urllib.parse import quote

from bench.launch_throughput import database
from bench.stack_helpers import LOCATION, bench_stack, say, summary
from contracts.api import EventList, LaunchRunResponse, RunList, RunView
from contracts.run_limits import LimitList, LimitSet, LimitView
from contracts.runs import RunRequest
from longshoreman.dev.stack import DevStack
from tests.support.run_queue import most_at_once

CLIENTS = 16


def submit(stack: DevStack, runs: int) -> list[str]:
    """Submit `runs` no-op runs from CLIENTS threads at once; their ids."""
    numbers = itertools.count()
    ids: list[str] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with stack.client(timeout_s=120) as client:
            while next(numbers) < runs:
                request = RunRequest(location=LOCATION, job="noop", tags={"bench": "queue_drain"})
                run_id = client.send("POST", "/api/runs", request, LaunchRunResponse).run.id
                with lock:
                    ids.append(run_id)

    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def all_runs(stack: DevStack) -> list[RunView]:
    """Every run of the bench location, paging through the API."""
    found: list[RunView] = []
    cursor: str | None = None
    with stack.client(timeout_s=120) as client:
        while True:
            page = client.get(
                "/api/runs", RunList, location=LOCATION, tag="bench=queue_drain", limit=1000, cursor=cursor
            )
            found.extend(page.runs)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


def job_times(stack: DevStack, run_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """JOB_START and JOB_SUCCESS of each run, as its run worker recorded them."""
    times: dict[str, tuple[datetime, datetime]] = {}
    with stack.client(timeout_s=60) as client:
        for run_id in run_ids:
            events = {e.type: e.time for e in client.get(f"/api/runs/{run_id}/events", EventList).events}
            times[run_id] = (events["JOB_START"], events["JOB_SUCCESS"])
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)

    with database(args.database) as url, bench_stack(database_url=url) as stack:
        scope = f"queue:{stack.config.task_queue}"
        with stack.client() as client:
            client.send("PUT", f"/api/limits/{quote(scope, safe='')}", LimitSet(max_concurrent=args.limit), LimitView)
        in_use: list[int] = []
        done = threading.Event()

        def sample() -> None:
            with stack.client() as client:
                while not done.is_set():
                    limits = client.get("/api/limits", LimitList).limits
                    in_use.append(next(limit.in_use for limit in limits if limit.scope == scope))
                    time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        say(f"submitting {args.runs} runs under {scope} = {args.limit}")
        began = time.time()
        ids = submit(stack, args.runs)
        submitted_s = time.time() - began
        say(f"submitted in {submitted_s:.1f} s; draining")
        with stack.client(timeout_s=120) as client:
            for run_id in ids:
                client.get(f"/api/runs/{run_id}/wait", RunView, timeout_s=60)
        done.set()
        sampler.join()
        runs = all_runs(stack)
        say("reading the runs' events")
        jobs = job_times(stack, [run.id for run in runs if run.status == "SUCCESS"])

    failed = [run for run in runs if run.status != "SUCCESS"]
    finished = [run.finished_at for run in runs if run.finished_at is not None]
    drain_s = max(finished).timestamp() - began
    freed_to_job: list[float] = []
    freed_to_dequeue: list[float] = []
    ends = sorted(finished)
    for run in sorted(runs, key=lambda r: r.dequeued_at or r.created_at)[args.limit :]:
        if run.dequeued_at is None or run.id not in jobs:
            continue
        index = bisect.bisect_right(ends, run.dequeued_at)
        if index == 0:
            continue
        freed = ends[index - 1]
        freed_to_dequeue.append((run.dequeued_at - freed).total_seconds())
        freed_to_job.append((jobs[run.id][0] - freed).total_seconds())

    print(f"run queue drain ({args.database}): {args.runs} no-op runs submitted at once, limit {args.limit}")
    print(f"  max runs holding a slot (sampled)     {max(in_use)}  (limit {args.limit}, {len(in_use)} samples)")
    print(f"  max jobs running at once (events)     {most_at_once(list(jobs.values()))}")
    print(f"  failed runs                           {len(failed)}")
    print(f"  submitted in                          {submitted_s:.1f} s")
    print(f"  drain time                            {drain_s:.1f} s   ({args.runs / drain_s:.1f} runs/s)")
    print(f"  slot freed -> next job started        {summary(freed_to_job)}")
    print(f"  slot freed -> dequeued                {summary(freed_to_dequeue)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
