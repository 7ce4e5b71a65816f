"""Faults 3 and 7: a code server in a crash loop, and one that hangs instead of dying."""

from __future__ import annotations

from tests.support.agent import alive
from tests.support.faults.crash_loop import SUPERVISION, CrashLoop
from tests.support.faults.env import FaultEnv
from tests.support.faults.hung_server import HungServer


def test_a_crash_loop_backs_off_says_so_and_recovers_when_the_crashes_stop(fault_env: FaultEnv) -> None:
    scenario = CrashLoop(window_s=8)
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    history = [(e["status"], e["message"]) for e in scenario.history]
    # Each failure waits longer than the one before, up to the maximum: 0, 0.5, 1, 2, 2, ...
    assert len(scenario.delays) >= 4, history
    assert scenario.delays == sorted(scenario.delays), history
    assert scenario.delays[0] == 0 and max(scenario.delays) == SUPERVISION["backoff_max_s"], history
    # The status says what is happening: which failure in a row, and when the next try comes.
    failures = [message for status, message in history if status in ("UNHEALTHY", "ERROR")]
    assert any("failure 4 in a row" in m or "attempt 4 failed" in m for m in failures), failures
    # No busy loop: with that backoff, a window of 8 s leaves room for a handful of starts, not dozens.
    assert scenario.starts_in_window <= 2 + 8 / SUPERVISION["backoff_max_s"] + 1, history
    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"  # every crashed instance is gone


def test_a_hung_code_server_is_declared_unhealthy_killed_and_replaced(fault_env: FaultEnv) -> None:
    scenario = HungServer()
    scenario.setup(fault_env)

    audit = scenario.trial(fault_env)

    name = scenario.location
    history = [
        (e["status"], e["message"]) for e in fault_env.client.get(f"/api/locations/{name}/events").json()["events"]
    ]
    assert [status for status, _ in history] == ["STARTING", "LOADED", "UNHEALTHY", "STARTING", "LOADED"], history
    assert "health check failed 3 times in a row: no answer within 0.5 s" in history[2][1], history[2]
    assert not alive(scenario.hung_pid), "the hung server must be killed, not left frozen"
    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
