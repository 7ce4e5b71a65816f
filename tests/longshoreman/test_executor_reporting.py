"""What `longshoreman execute-run` reports to a real control plane: events, log lines, cancellation, outages."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.longshoreman.run_target import RunFactory, TcpRelay, parse_time
from tests.longshoreman.sdk_support import execute_run, start_execute_run, wait_until, write_module


def test_a_successful_run_reports_its_lifecycle_user_events_and_output(new_run: RunFactory, tmp_path: Path):
    run = new_run("greet", {"name": "docks"})

    result = execute_run(run.env(LONGSHOREMAN_RUN_CONFIG='{"name": "docks"}'), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello, docks\n"  # tee: the real stdout still gets it
    events = run.events()
    assert [(e["seq"], e["type"], e["attempt"]) for e in events] == [
        (1, "RUN_START", 1),
        (2, "JOB_START", 1),
        (3, "GREETED", 1),
        (4, "JOB_SUCCESS", 1),
    ]
    assert events[1]["message"] == "greet"
    assert events[2]["message"] == "greeted docks"
    lines = run.lines()
    assert [(line["seq"], line["stream"], line["line"]) for line in lines] == [(1, "stdout", "hello, docks")]
    # Times are taken when things happen, so they tell the story in order.
    times = [parse_time(e["time"]) for e in events]
    assert times == sorted(times)
    assert times[1] <= parse_time(lines[0]["time"]) <= times[3]


def test_a_failing_run_reports_the_exception_and_its_traceback(new_run: RunFactory, tmp_path: Path):
    run = new_run("fail")

    result = execute_run(run.env(), tmp_path)

    assert result.returncode == 1
    failure = run.events()[-1]
    assert failure["type"] == "JOB_FAILURE"
    summary, trace = failure["message"].split("\n", 1)
    assert summary == "ValueError: boom: the hello job failed on purpose"
    assert trace.startswith("Traceback (most recent call last):")
    stderr_lines = [line["line"] for line in run.lines() if line["stream"] == "stderr"]
    assert stderr_lines[-1] == "ValueError: boom: the hello job failed on purpose"


def test_a_job_that_cannot_be_loaded_is_reported(new_run: RunFactory, tmp_path: Path):
    run = new_run("greet")

    result = execute_run(run.env(LONGSHOREMAN_RUN_JOB="nope"), tmp_path)

    assert result.returncode == 2
    assert [e["type"] for e in run.events()] == ["RUN_START", "LOAD_FAILURE"]
    assert run.events()[-1]["message"].startswith("job 'nope' not found in module 'examples.hello.definitions'")


def test_many_lines_arrive_complete_and_in_order(new_run: RunFactory, tmp_path: Path):
    run = new_run("count", {"n": 1200})

    result = execute_run(run.env(LONGSHOREMAN_RUN_CONFIG='{"n": 1200}'), tmp_path)

    assert result.returncode == 0, result.stderr
    lines = run.lines()
    assert [line["seq"] for line in lines] == list(range(1, 1201))
    assert [line["line"] for line in lines] == [f"line {i}" for i in range(1, 1201)]


def test_a_second_attempt_numbers_its_events_from_one(new_run: RunFactory, tmp_path: Path):
    run = new_run("greet", attempt=2)

    result = execute_run(run.env(LONGSHOREMAN_RUN_ATTEMPT="2"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert [(e["seq"], e["attempt"]) for e in run.events()] == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert [(line["seq"], line["attempt"]) for line in run.lines()] == [(1, 2)]


def test_sigterm_reports_the_cancellation_after_the_output_so_far(new_run: RunFactory, tmp_path: Path):
    run = new_run("sleepy", {"seconds": 60})
    env = run.env(LONGSHOREMAN_RUN_CONFIG='{"seconds": 60}', LONGSHOREMAN_STARTED_FILE=str(tmp_path / "started"))
    process = start_execute_run(env, tmp_path)
    try:
        wait_until(lambda: run.lines(), what="the first progress line")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 143
    events = run.events()
    assert [e["type"] for e in events] == ["RUN_START", "JOB_START", "JOB_CANCELED"]
    assert events[-1]["message"] == "canceled by SIGTERM"
    assert run.lines()[0]["line"] == "sleepy: 1/60 s"


def test_the_run_token_stays_out_of_the_job_and_of_every_output(new_run: RunFactory, tmp_path: Path):
    module = write_module(
        tmp_path,
        "nosy",
        """
        import os
        from longshoreman import Definitions, JobContext, job

        @job
        def nosy(context: JobContext):
            print(dict(os.environ))
            print(os.environ.get("LONGSHOREMAN_RUN_TOKEN"))
            context.log_event("SETTINGS", repr(context))

        defs = Definitions(jobs=[nosy])
        """,
    )
    run = new_run("greet")

    result = execute_run(run.env(LONGSHOREMAN_RUN_MODULE=module, LONGSHOREMAN_RUN_JOB="nosy"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "None"
    stored = json.dumps([run.events(), run.lines()])
    for text in (result.stdout, result.stderr, stored):
        assert run.token not in text


def test_a_token_of_another_run_is_refused_and_the_job_still_finishes(new_run: RunFactory, tmp_path: Path):
    run, other = new_run("greet"), new_run("greet")

    result = execute_run(run.env() | {"LONGSHOREMAN_RUN_TOKEN": other.token}, tmp_path)

    assert result.returncode == 0
    assert "control plane rejected events: HTTP 403" in result.stderr
    assert "the control plane refused 4 events and 1 log lines" in result.stderr
    assert run.events() == []
    assert other.token not in result.stderr


def test_events_and_logs_wait_for_an_unreachable_control_plane(new_run: RunFactory, tmp_path: Path):
    run = new_run("greet")
    relay = TcpRelay(run.control_plane.url)
    process = start_execute_run(run.env(url=relay.url), tmp_path)
    try:
        assert process.stderr is not None
        first_warning = process.stderr.readline()
        relay.open()
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        relay.close()

    assert f"control plane unreachable at {relay.url}: buffering events and logs, retrying" in first_warning
    assert "control plane reachable again" in stderr
    assert process.returncode == 0
    assert [e["type"] for e in run.events()] == ["RUN_START", "JOB_START", "GREETED", "JOB_SUCCESS"]
    assert [line["line"] for line in run.lines()] == ["hello, world"]


def test_an_unreachable_control_plane_delays_the_exit_only_up_to_the_flush_timeout(new_run: RunFactory, tmp_path: Path):
    run = new_run("fail")
    relay = TcpRelay(run.control_plane.url)  # never opened

    result = execute_run(run.env(url=relay.url, LONGSHOREMAN_RUN_FLUSH_TIMEOUT_S="0.5"), tmp_path, timeout_s=30)

    assert result.returncode == 1
    assert "could not deliver 3 events and 4 log lines to the control plane" in result.stderr


def test_every_line_the_job_writes_is_captured_with_its_stream(new_run: RunFactory, tmp_path: Path):
    module = write_module(
        tmp_path,
        "chatty",
        """
        import logging, sys, threading
        from longshoreman import Definitions, job

        print("loading chatty")

        @job
        def chatty():
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
            logging.info("via logging")
            sys.stderr.write("to stderr\\r\\n")
            worker = threading.Thread(target=print, args=("from a thread",))
            worker.start()
            worker.join()
            sys.stdout.write("two\\nlines\\n")
            print("no newline at the end", end="")

        defs = Definitions(jobs=[chatty])
        """,
    )
    run = new_run("greet")

    result = execute_run(run.env(LONGSHOREMAN_RUN_MODULE=module, LONGSHOREMAN_RUN_JOB="chatty"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert [(line["stream"], line["line"]) for line in run.lines()] == [
        ("stdout", "loading chatty"),
        ("stderr", "INFO via logging"),
        ("stderr", "to stderr"),
        ("stdout", "from a thread"),
        ("stdout", "two"),
        ("stdout", "lines"),
        ("stdout", "no newline at the end"),
    ]
    assert [line["seq"] for line in run.lines()] == list(range(1, 8))
