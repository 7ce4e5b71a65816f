"""What the recorded histories in tests/histories/ are: one per workflow path, and the TEST-ONLY key they use.

scripts/record_histories.py writes them from real runs; tests/workflows/test_replay_histories.py replays them.
Histories recorded by workflow code that has shipped are kept when the code changes (under a directory named
for the release, e.g. v1/): workflows begun on that code may still be running, so the current code — with
its `workflow.patched` branches — must keep replaying them.
"""

from __future__ import annotations

from pathlib import Path

from runtime.codec import KeyRing

HISTORY_DIR = Path(__file__).resolve().parents[1] / "histories"
# Committed on purpose (TEST-ONLY, protects nothing): CI must decrypt the recorded payloads to replay them.
KEY_FILE = HISTORY_DIR / "TEST_ONLY_encryption_key.txt"
# Put in a location's env while recording: it must appear in no recorded file (payloads are encrypted).
SECRET_MARKER = "hist-secret-5bd1e0c2"

RUN_SCENARIOS = (
    "run_success",
    "run_failure",
    "run_cancel",
    "run_start_timeout",
    "run_max_runtime",
    "run_retry_infra_attempt_2",
    "run_agent_restart",
    "run_supervision_handed_over",  # its agent killed: the agent's lease hands the watch over by signal
)
LOCATION_SCENARIOS = (
    "location_serving_runs_across_agent_restart",
    "location_crash_restart",
    "location_crash_loop",
    "location_redeploy",
    "location_halted_then_redeploy",
    "location_continue_as_new_first_run",
    "location_continue_as_new_second_run",
    "location_stop",
)
AUTOMATION_SCENARIOS = (
    "schedule_tick",
    "schedule_tick_waiting_for_its_run",
    "sensor_ticks_then_stopped",
    "backfill",
)
# The control plane's workflows: an alert whose webhook was down for its first attempt; an agent's watch.
ALERT_SCENARIOS = (
    "alert_delivered_after_a_failed_attempt",
    "agent_watch",
)
# A killed agent's supervision lease: timed out, its watches handed over.
LEASE_SCENARIOS = ("agent_lease_handed_over",)
SCENARIOS = RUN_SCENARIOS + LOCATION_SCENARIOS + AUTOMATION_SCENARIOS + ALERT_SCENARIOS + LEASE_SCENARIOS


def all_history_files() -> list[Path]:
    """Every recorded history: the current scenarios and those of shipped releases."""
    return sorted(HISTORY_DIR.rglob("*.json"))


def history_file(scenario: str) -> Path:
    """Where a scenario's history lives."""
    return HISTORY_DIR / f"{scenario}.json"


def recording_keyring() -> KeyRing:
    """The TEST-ONLY key ring the histories were recorded with."""
    return KeyRing.parse(KEY_FILE.read_text())
