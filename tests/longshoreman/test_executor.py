"""`longshoreman execute-run` as the agent starts it: exit codes, started and termination files, cancellation.

These runs have no control plane (the executor says so and still runs the job); what reaches the control
plane is covered in test_executor_reporting.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.longshoreman.sdk_support import execute_run, run_env, start_execute_run, wait_until, write_module


def files(tmp_path: Path) -> dict[str, str]:
    """Paths for LONGSHOREMAN_STARTED_FILE and LONGSHOREMAN_TERMINATION_FILE."""
    return {
        "LONGSHOREMAN_STARTED_FILE": str(tmp_path / "started"),
        "LONGSHOREMAN_TERMINATION_FILE": str(tmp_path / "termination"),
    }


def test_a_successful_job_exits_0_and_its_output_still_reaches_stdout(tmp_path: Path):
    env = run_env("greet", LONGSHOREMAN_RUN_CONFIG='{"name": "docks"}', **files(tmp_path))

    result = execute_run(env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello, docks\n"
    assert (tmp_path / "started").exists()
    assert not (tmp_path / "termination").exists()
    assert "no control plane configured" in result.stderr


def test_config_defaults_come_from_the_job_schema(tmp_path: Path):
    result = execute_run(run_env("count"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"line {i}" for i in range(1, 11)]


def test_a_failing_job_exits_1_and_writes_the_termination_message(tmp_path: Path):
    result = execute_run(run_env("fail", **files(tmp_path)), tmp_path)

    assert result.returncode == 1
    assert (tmp_path / "started").exists()
    assert (tmp_path / "termination").read_text() == "ValueError: boom: the hello job failed on purpose\n"
    # The traceback is the user's, as Python would print it.
    stderr = result.stderr.splitlines()
    assert "Traceback (most recent call last):" in stderr
    assert stderr[-1] == "ValueError: boom: the hello job failed on purpose"
    assert any("examples/hello/definitions.py" in line for line in stderr)


def test_sys_exit_with_a_non_zero_code_is_a_failure_and_exit_0_a_success(tmp_path: Path):
    module = write_module(
        tmp_path,
        "exits",
        """
        import sys
        from longshoreman import Definitions, job

        @job
        def bad(): sys.exit(3)

        @job
        def good(): sys.exit(0)

        defs = Definitions(jobs=[bad, good])
        """,
    )

    bad = execute_run(run_env("bad", module=module, **files(tmp_path)), tmp_path)
    good = execute_run(run_env("good", module=module), tmp_path)

    assert bad.returncode == 1
    assert (tmp_path / "termination").read_text() == "SystemExit: 3\n"
    assert good.returncode == 0


def test_an_unknown_job_exits_2_before_starting(tmp_path: Path):
    result = execute_run(run_env("nope", **files(tmp_path)), tmp_path)

    assert result.returncode == 2
    message = "job 'nope' not found in module 'examples.hello.definitions' (available: greet, fail, sleepy, count)"
    assert result.stderr.splitlines()[-1] == f"longshoreman execute-run: {message}"
    assert (tmp_path / "termination").read_text() == message + "\n"
    assert not (tmp_path / "started").exists()


def test_a_module_that_cannot_be_imported_exits_2(tmp_path: Path):
    module = write_module(tmp_path, "typo_jobs", "from longshoreman import Definitions\ndefs = Definitions(jobs=[\n")

    result = execute_run(run_env("any", module=module, **files(tmp_path)), tmp_path)

    assert result.returncode == 2
    assert "could not import module 'typo_jobs': SyntaxError" in result.stderr
    assert (tmp_path / "termination").read_text().startswith("could not import module 'typo_jobs': SyntaxError")
    assert not (tmp_path / "started").exists()


def test_a_missing_or_invalid_setting_exits_2_with_one_line(tmp_path: Path):
    missing = execute_run(run_env(""), tmp_path)
    bad_config = execute_run(run_env("greet", LONGSHOREMAN_RUN_CONFIG="[1, 2]"), tmp_path)
    half_configured = execute_run(run_env("greet", LONGSHOREMAN_CONTROL_PLANE_URL="http://127.0.0.1:9"), tmp_path)

    assert (missing.returncode, missing.stderr) == (2, "longshoreman execute-run: LONGSHOREMAN_RUN_JOB is not set\n")
    assert (bad_config.returncode, bad_config.stderr) == (
        2,
        "longshoreman execute-run: LONGSHOREMAN_RUN_CONFIG must be a JSON object\n",
    )
    assert half_configured.returncode == 2
    assert "LONGSHOREMAN_RUN_TOKEN is not set" in half_configured.stderr


def test_sigterm_cancels_the_job_and_exits_143(tmp_path: Path):
    env = run_env("sleepy", LONGSHOREMAN_RUN_CONFIG='{"seconds": 60}', **files(tmp_path))
    process = start_execute_run(env, tmp_path)
    try:
        wait_until((tmp_path / "started").exists, what="the job to start")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 143
    assert "longshoreman execute-run: canceled by SIGTERM" in stderr
    assert not (tmp_path / "termination").exists()


def test_cancellation_gets_through_a_job_that_catches_every_exception(tmp_path: Path):
    module = write_module(
        tmp_path,
        "stubborn",
        """
        import time
        from longshoreman import Definitions, job

        @job
        def stubborn():
            while True:
                try:
                    time.sleep(0.05)
                except Exception:
                    print("swallowed")

        defs = Definitions(jobs=[stubborn])
        """,
    )
    process = start_execute_run(run_env("stubborn", module=module, **files(tmp_path)), tmp_path)
    try:
        wait_until((tmp_path / "started").exists, what="the job to start")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 143
    assert "swallowed" not in stdout
