"""Attempts end to end: the job's own failure is final; an infrastructure failure is retried as a new attempt."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

from tests.support.stack import Stack


def test_a_failing_job_is_not_retried_whatever_the_retry_policy(stack: Stack) -> None:
    stack.add_location(stack.spec())
    run_id = stack.launch("fail", retry={"max_attempts": 3, "backoff_s": 0})

    run = stack.wait_run(run_id)

    assert (run["status"], run["attempt"]) == ("FAILURE", 1), run
    assert "ValueError: boom" in run["reason"]
    assert {event["attempt"] for event in stack.events(run_id)} == {1}
    assert not (stack.agent.state_dir / "runs" / f"run-{run_id}-a2").exists()


def test_a_killed_run_worker_is_retried_as_attempt_2_which_succeeds(stack: Stack, tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "flaky").mkdir(parents=True)
    (code / "flaky" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import time
            from longshoreman import Definitions, JobContext, job

            @job
            def once(context: JobContext):
                print(f"attempt {context.attempt}", flush=True)
                if context.attempt == 1:
                    time.sleep(60)  # attempt 1 is killed from outside while it waits

            defs = Definitions(jobs=[once])
            """
        )
    )
    stack.add_location(stack.spec("flaky", module="flaky", working_dir=str(code)))
    run_id = stack.launch("once", location="flaky", retry={"max_attempts": 2, "backoff_s": 0})
    stack.wait_run(run_id, {"STARTED"})

    os.kill(stack.worker_pid(run_id, attempt=1), signal.SIGKILL)  # the node died, say: not the job's fault
    run = stack.wait_run(run_id, timeout_s=40)

    assert (run["status"], run["attempt"]) == ("SUCCESS", 2), run
    assert stack.worker_pid(run_id, attempt=2) != stack.worker_pid(run_id, attempt=1)
    starts = sorted(e["attempt"] for e in stack.events(run_id) if e["type"] == "RUN_START")
    assert starts == [1, 2], starts
    assert "attempt 2" in stack.logs(run_id)
