"""RunWorkflow end to end: control plane → Temporal → agent → run worker → metadata back (real processes)."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

from temporalio.client import Client

from tests.support.agent import alive
from tests.support.stack import Stack


def test_run_succeeds_with_events_and_logs(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("greet", {"name": "docks"})
    run = stack.wait_run(run_id)
    assert run["status"] == "SUCCESS", run
    assert run["started_at"] and run["finished_at"]
    types = [event["type"] for event in stack.events(run_id)]
    assert types[:2] == ["RUN_START", "JOB_START"] and types[-1] == "JOB_SUCCESS", types
    assert "hello, docks" in stack.logs(run_id)


def test_failing_job_reports_the_exception_message(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run = stack.wait_run(stack.launch("fail"))
    assert run["status"] == "FAILURE"
    assert "ValueError: boom: the hello job failed on purpose" in run["reason"], run["reason"]
    assert "boom" in run["log_tail"], "the worker's last output is kept with the failure"
    failure = [e for e in stack.events(run["id"]) if e["type"] == "JOB_FAILURE"]
    assert failure and "boom" in failure[0]["message"]


def test_killed_run_worker_fails_with_the_signal_named(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("sleepy", {"seconds": 60})
    stack.wait_run(run_id, {"STARTED"})
    os.kill(stack.worker_pid(run_id), signal.SIGKILL)
    run = stack.wait_run(run_id)
    assert run["status"] == "FAILURE"
    assert "SIGKILL" in run["reason"], run["reason"]


def test_cancel_stops_the_worker_and_reports_canceled(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("sleepy", {"seconds": 60})
    stack.wait_run(run_id, {"STARTED"})
    pid = stack.worker_pid(run_id)
    response = stack.client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    run = stack.wait_run(run_id)
    assert run["status"] == "CANCELED", run
    assert not alive(pid)
    assert "JOB_CANCELED" in [event["type"] for event in stack.events(run_id)]


# A worker that ignores SIGTERM on cancel: tests/faults/test_hung_run_worker.py.


def test_start_timeout_fails_the_run_with_that_reason(stack: Stack, tmp_path: Path) -> None:
    module_dir = tmp_path / "code"
    (module_dir / "slowstart").mkdir(parents=True)
    (module_dir / "slowstart" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import os, time
            from longshoreman import Definitions, job

            if os.environ.get("LONGSHOREMAN_RUN_ID"):
                time.sleep(30)  # a run worker that takes too long to start

            @job
            def quick():
                print("ran")

            defs = Definitions(jobs=[quick])
            """
        )
    )
    stack.add_location(stack.spec("slow", module="slowstart", working_dir=str(module_dir)))
    run_id = stack.launch("quick", location="slow", start_timeout_s=1, cancel_grace_s=1)
    run = stack.wait_run(run_id)
    assert run["status"] == "FAILURE"
    assert "start timeout" in run["reason"], run["reason"]
    assert not alive(stack.worker_pid(run_id))


def test_max_runtime_fails_the_run_with_that_reason(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("sleepy", {"seconds": 60}, max_runtime_s=1.5, cancel_grace_s=1)
    run = stack.wait_run(run_id)
    assert run["status"] == "FAILURE"
    assert "max runtime" in run["reason"], run["reason"]
    assert not alive(stack.worker_pid(run_id))


def test_agent_restart_mid_run_resumes_supervision_without_relaunch(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("sleepy", {"seconds": 4})
    stack.wait_run(run_id, {"STARTED"})
    pid = stack.worker_pid(run_id)
    stack.agent.stop()
    assert alive(pid), "the run worker must outlive the agent"
    stack.agent.start()
    run = stack.wait_run(run_id, timeout_s=40)
    assert run["status"] == "SUCCESS", run
    assert stack.worker_pid(run_id) == pid
    assert not (stack.agent.state_dir / "runs" / f"run-{run_id}-a2").exists()
    starts = [e for e in stack.events(run_id) if e["type"] == "RUN_START"]
    assert len(starts) == 1, "the worker was launched once"


def test_killed_agent_mid_run_resumes_supervision_without_relaunch(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("sleepy", {"seconds": 3})
    stack.wait_run(run_id, {"STARTED"})
    pid = stack.worker_pid(run_id)
    stack.agent.kill()
    stack.agent.start()
    run = stack.wait_run(run_id, timeout_s=40)
    assert run["status"] == "SUCCESS", run
    assert stack.worker_pid(run_id) == pid
    assert len([e for e in stack.events(run_id) if e["type"] == "RUN_START"]) == 1


def test_same_idempotency_key_twice_gives_one_run(stack: Stack) -> None:
    stack.add_location(stack.spec())
    body = {"location": stack.spec()["name"], "job": "greet", "idempotency_key": f"k-{stack.prefix}"}
    first = stack.client.post("/api/runs", json=body)
    second = stack.client.post("/api/runs", json=body)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["run"]["id"] == second.json()["run"]["id"]
    assert stack.wait_run(first.json()["run"]["id"])["status"] == "SUCCESS"
    runs = stack.client.get("/api/runs", params={"location": stack.spec()["name"]}).json()["runs"]
    assert len(runs) == 1


async def test_run_history_stays_small_however_long_the_run(stack: Stack, temporal_client: Client) -> None:
    stack.add_location(stack.spec())
    # One after the other: each starts the same way (in the location's standby run worker), so the two
    # histories differ only by how long their job ran.
    runs = []
    for seconds in (1, 4):
        runs.append(stack.launch("sleepy", {"seconds": seconds}))
        assert stack.wait_run(runs[-1])["status"] == "SUCCESS"

    async def size(run_id: str) -> int:
        return len((await temporal_client.get_workflow_handle(f"run:{run_id}").fetch_history()).events)

    shorter, longer = [await size(run) for run in runs]
    # Supervision heartbeats instead of writing history: no event per poll, so duration adds nothing.
    assert longer <= 40 and longer == shorter, (shorter, longer)
    # A job that ends while the launch still watches it needs no watch or supervision activity at all. The
    # watch is short, so on a loaded machine a quick job can outlive it: it is then supervised (correct, just
    # longer); a few tries tell the two paths apart.
    quick_sizes: list[int] = []
    for _ in range(3):
        quick = stack.launch("greet")
        assert stack.wait_run(quick)["status"] == "SUCCESS"
        quick_sizes.append(await size(quick))
        if quick_sizes[-1] < shorter - 8:
            break
    assert min(quick_sizes) < shorter - 8, (quick_sizes, shorter)
    quick_run = stack.client.get(f"/api/runs/{quick}").json()
    assert quick_run["started_at"] is not None and quick_run["started_at"] <= quick_run["finished_at"], quick_run
