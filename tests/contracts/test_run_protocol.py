"""The run protocol's rules: status transitions, exit meanings, and the run worker's environment round trip."""

from __future__ import annotations

import signal

import pytest

from contracts.run_protocol import (
    TOKEN_VAR,
    ExitCode,
    RunEnvError,
    RunStatus,
    RunWorkerEnv,
    canceled_exit_code,
    classify_exit,
)

FINAL = [RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED]


@pytest.mark.parametrize("final", FINAL)
def test_a_final_status_never_changes(final: RunStatus) -> None:
    assert not any(final.may_become(other) for other in RunStatus)


def test_canceling_only_ends() -> None:
    assert {s for s in RunStatus if RunStatus.CANCELING.may_become(s)} == set(FINAL)


def test_a_queued_run_may_end_without_starting_and_a_started_one_may_start_a_new_attempt() -> None:
    assert all(RunStatus.QUEUED.may_become(final) for final in FINAL)
    assert RunStatus.STARTED.may_become(RunStatus.STARTING)
    assert not RunStatus.STARTED.may_become(RunStatus.QUEUED)


def test_the_executor_exit_codes_mean_what_the_agent_reads() -> None:
    assert classify_exit(ExitCode.SUCCESS).succeeded
    failed = classify_exit(ExitCode.JOB_FAILED, message="ValueError: boom")
    assert (failed.infrastructure, failed.by_itself) == (False, True)
    assert failed.reason == "job failed: ValueError: boom (exit code 1)"
    load = classify_exit(ExitCode.LOAD_FAILED)
    assert not load.infrastructure and load.reason.startswith("could not load the job")


def test_signals_and_missing_commands_are_the_infrastructure_and_not_by_itself() -> None:
    killed = classify_exit(None, signal.SIGKILL)
    assert killed.infrastructure and not killed.by_itself and "SIGKILL" in killed.reason
    # The executor's answer to a cancel's SIGTERM: stopped, not ended by itself.
    assert not classify_exit(canceled_exit_code(signal.SIGTERM)).by_itself
    assert classify_exit(ExitCode.COMMAND_NOT_FOUND).infrastructure
    assert not classify_exit(None, signal.SIGKILL, final=True).infrastructure, "a final failure is not retried"
    oom = classify_exit(137, oom_killed=True)
    assert oom.infrastructure and "out of memory" in oom.reason


def test_the_run_worker_environment_round_trips() -> None:
    sent = RunWorkerEnv(
        run_id="r1",
        module="pkg.defs",
        job="greet",
        attempt=2,
        config={"name": "docks", "n": [1, 2]},
        tags={"team": "data"},
        control_plane_url="http://cp:8000",
        token="secret",
        started_file="/tmp/s",
        termination_file="/tmp/t",
    )
    env = sent.to_env()
    assert env[TOKEN_VAR] == "secret"
    assert set(env) <= RunWorkerEnv.names()
    assert RunWorkerEnv.from_env(env) == sent
    assert "secret" not in repr(sent)


def test_a_token_passed_by_reference_is_left_out_and_a_broken_environment_is_one_line() -> None:
    env = RunWorkerEnv(run_id="r1", module="m", job="j", control_plane_url="http://cp").to_env()
    assert TOKEN_VAR not in env
    with pytest.raises(RunEnvError, match="RUN_TOKEN is not set"):
        RunWorkerEnv.from_env(env)
    with pytest.raises(RunEnvError, match="RUN_CONFIG must be a JSON object"):
        RunWorkerEnv.from_env(
            {
                "LONGSHOREMAN_RUN_ID": "r",
                "LONGSHOREMAN_RUN_MODULE": "m",
                "LONGSHOREMAN_RUN_JOB": "j",
                "LONGSHOREMAN_RUN_CONFIG": "[1]",
            }
        )
