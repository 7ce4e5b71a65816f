"""The run queue with a real agent, code server and run workers: a limit of 2 over 10 runs, a pool declared in code,
and slots freed whatever ends a run (a workflow terminated from outside), kept while an agent is killed and its
run lives on, and the queue drained once the runs end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from temporalio.client import Client

from tests.support.agent import REPO_ROOT
from tests.support.run_queue import limit_path, limit_view, most_at_once, out_of_queue, set_limit, waiting
from tests.support.stack import Stack

RUNNING = {"STARTING", "STARTED", "CANCELING"}


@pytest.fixture
def queue_limit(stack: Stack) -> Iterator[str]:
    """A limit scope on this test's agent queue; removed afterwards."""
    scope = f"queue:{stack.queue}"
    yield scope
    stack.client.delete(limit_path(scope))


class Sampler:
    """Counts, every few milliseconds, a location's runs holding slots and those running (as the API shows them)."""

    def __init__(self, stack: Stack, location: str) -> None:
        self.out: list[int] = []
        self.running: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(stack, location))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self, stack: Stack, location: str) -> None:
        while not self._stop.is_set():
            runs = stack.client.get("/api/runs", params={"location": location, "limit": 1000}).json()["runs"]
            self.running.append(sum(run["status"] in RUNNING for run in runs))
            self.out.append(len([run for run in runs if run["dequeued_at"] and run["status"] not in _FINAL]))


_FINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def job_intervals(stack: Stack, run_ids: list[str]) -> list[tuple[datetime, datetime]]:
    """When each run's job ran, by its run worker's own JOB_START and JOB_SUCCESS events."""
    spans = []
    for run_id in run_ids:
        times = {event["type"]: datetime.fromisoformat(event["time"]) for event in stack.events(run_id)}
        spans.append((times["JOB_START"], times["JOB_SUCCESS"]))
    return spans


def test_limit_2_with_10_real_runs_never_runs_more_than_2_and_all_succeed_by_priority(
    stack: Stack, queue_limit: str
) -> None:
    stack.add_location(stack.spec())
    location = f"hello-{stack.prefix}"
    set_limit(stack.client, queue_limit, 0)  # all ten wait, so the order is the queue's alone
    priorities = [0, 0, 0, 5, 0, 5, 1, 0, 1, 0]
    ids = [stack.launch("sleepy", {"seconds": 0.5}, tags={"longshoreman/priority": str(p)}) for p in priorities]
    assert [run["id"] for run in waiting(stack.client, location=location)] == [
        ids[i] for i in (3, 5, 6, 8, 0, 1, 2, 4, 7, 9)
    ]

    with Sampler(stack, location) as sampler:
        set_limit(stack.client, queue_limit, 2)
        finals = [stack.wait_run(run_id, timeout_s=90) for run_id in ids]

    assert [run["status"] for run in finals] == ["SUCCESS"] * 10, [run["reason"] for run in finals]
    assert max(sampler.out) == 2 and max(sampler.running) <= 2, (max(sampler.out), max(sampler.running))
    assert most_at_once(job_intervals(stack, ids)) <= 2
    # They left the queue (and ran) by priority, then first come.
    dequeued = sorted(finals, key=lambda run: run["dequeued_at"])
    assert [run["id"] for run in dequeued] == [ids[i] for i in (3, 5, 6, 8, 0, 1, 2, 4, 7, 9)]
    assert limit_view(stack.client, queue_limit) | {"updated_at": None} == {  # type: ignore[operator]
        "scope": queue_limit,
        "max_concurrent": 2,
        "in_use": 0,
        "waiting": 0,
        "in_use_by_value": None,
        "updated_at": None,
    }


def test_a_pool_declared_in_code_caps_its_jobs_and_leaves_other_jobs_alone(stack: Stack) -> None:
    spec = stack.spec("warehouse", module="examples.warehouse.definitions", working_dir=str(REPO_ROOT))
    loaded = stack.add_location(spec)
    assert [(job["name"], job["pool"]) for job in loaded["definitions"]["jobs"]] == [
        ("load_table", "warehouse"),
        ("report", None),
    ]
    location = f"warehouse-{stack.prefix}"
    set_limit(stack.client, "pool:warehouse", 1)
    try:
        with Sampler(stack, location) as sampler:
            loads = [
                stack.launch("load_table", {"table": table, "seconds": 1}, location="warehouse")
                for table in ("orders", "users", "items")
            ]
            other = stack.launch("report", location="warehouse")
            held = waiting(stack.client, location=location)
            report_run = stack.wait_run(other, timeout_s=30)
            finals = [stack.wait_run(run_id, timeout_s=60) for run_id in loads]
    finally:
        stack.client.delete(limit_path("pool:warehouse"))

    assert [run["id"] for run in held] == loads[1:]
    assert held[0]["message"] == "waiting: pool warehouse 1/1 in use; 0 runs ahead"
    assert held[1]["message"] == "waiting: pool warehouse 1/1 in use; 1 run ahead"
    assert report_run["status"] == "SUCCESS" and report_run["finished_at"] < finals[-1]["finished_at"]
    assert [run["status"] for run in finals] == ["SUCCESS"] * 3
    assert max(sampler.running) <= 2 and most_at_once(job_intervals(stack, loads)) == 1


async def test_slots_are_freed_by_a_terminated_workflow_and_held_while_a_killed_agent_run_lives_on(
    stack: Stack, temporal_client: Client, queue_limit: str
) -> None:
    first, _pid = stack.started_sleepy(120)  # no limit yet: it starts at once
    view = set_limit(stack.client, queue_limit, 1)  # the new limit counts it
    assert view["in_use"] == 1
    second = stack.launch("sleepy", {"seconds": 4})
    third = stack.launch("greet", {"name": "last"})
    mine = {"location": f"hello-{stack.prefix}"}
    assert _ids(waiting(stack.client, **mine)) == [second, third]

    await temporal_client.get_workflow_handle(f"run:{first}").terminate(reason="operator cleanup")

    assert stack.wait_run(first, timeout_s=15)["status"] == "FAILURE"
    assert stack.wait_run(second, {"STARTED"}, timeout_s=30)["dequeued_at"] is not None
    stack.agent.kill()  # its run worker lives on: the run is not over, its slot stays held
    await asyncio.sleep(3.0)
    assert _ids(out_of_queue(stack.client, **mine)) == [second] and _ids(waiting(stack.client, **mine)) == [third]

    stack.agent.start()  # supervision resumes, the run ends, its slot goes to the last one

    finals = [stack.wait_run(run_id, timeout_s=60) for run_id in (second, third)]
    assert [run["status"] for run in finals] == ["SUCCESS", "SUCCESS"], finals
    assert stack.logs(third) == ["hello, last"]
    assert limit_view(stack.client, queue_limit)["in_use"] == 0  # type: ignore[index]


def _ids(runs: list[dict[str, Any]]) -> list[str]:
    return [run["id"] for run in runs]
