"""The recorded histories (tests/histories/) replay against the current workflow code: a workflow change
that would break running workflows fails here. Re-recording: scripts/record_histories.py (see the README)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.replay import HistoryReplayer, load_history
from longshoreman.cli.replay import replayable_workflows
from runtime.codec import ENCODING
from tests.support.agent import REPO_ROOT
from tests.support.histories import (
    HISTORY_DIR,
    KEY_FILE,
    SCENARIOS,
    SECRET_MARKER,
    all_history_files,
    history_file,
    recording_keyring,
)
from tests.workflows.drifted_run_workflow import DriftedRunWorkflow
from workflows.location_workflow import CodeLocationWorkflow


def test_every_workflow_path_has_a_recorded_history() -> None:
    recorded = {path.stem for path in HISTORY_DIR.glob("*.json")}
    assert set(SCENARIOS) <= recorded, f"missing: {sorted(set(SCENARIOS) - recorded)}"


async def test_all_recorded_histories_replay_cleanly() -> None:
    replayer = HistoryReplayer(recording_keyring(), workflows=replayable_workflows())
    files = all_history_files()
    assert any(path.parent != HISTORY_DIR for path in files), "the shipped releases' histories are missing"
    histories = [load_history(path.read_text(), str(path.relative_to(HISTORY_DIR))) for path in files]
    verdicts = await replayer.verdicts(histories)
    broken = [verdict.describe() for verdict in verdicts if not verdict.clean]
    assert not broken, "\n".join(broken)


def payload_encodings(value: Any, exempt: bool = False, parent: str = "") -> Iterator[tuple[str, bool]]:
    """(encoding, exempt) of every payload in a history's JSON.

    Exempt: search attributes (indexed by Temporal in plain text: names and statuses only) and the SDK's own
    marker data: a local activity's id, type and times (its result in that marker is ours), a patch's id.
    """
    if isinstance(value, dict):
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and "encoding" in metadata:
            yield base64.b64decode(metadata["encoding"]).decode(), exempt
        for key, item in value.items():
            bookkeeping = parent == "marker-details" and key in ("data", "patch-data")
            child = "marker-details" if parent == "markerRecordedEventAttributes" and key == "details" else key
            yield from payload_encodings(item, exempt or key == "searchAttributes" or bookkeeping, child)
    elif isinstance(value, list):
        for item in value:
            yield from payload_encodings(item, exempt, parent)


def test_recorded_histories_hold_only_encrypted_payloads() -> None:
    for path in all_history_files():
        scenario = str(path.relative_to(HISTORY_DIR))
        text = path.read_text()
        assert SECRET_MARKER not in text, scenario
        encodings = list(payload_encodings(json.loads(text)))
        plain = [encoding for encoding, exempt in encodings if not exempt and encoding != ENCODING.decode()]
        assert not plain and encodings, f"{scenario}: unencrypted payloads {plain}"


async def test_a_non_deterministic_change_is_pinpointed() -> None:
    # A run of the first release: it reported STARTED, which the drifted code no longer does.
    history = load_history((HISTORY_DIR / "v1" / "run_success.json").read_text(), "v1/run_success")
    replayer = HistoryReplayer(recording_keyring(), workflows=[DriftedRunWorkflow, CodeLocationWorkflow])
    verdict = await replayer.verdict(history)
    assert verdict.nondeterministic, verdict
    event = history.events[verdict.event_id - 1] if verdict.event_id else None
    assert event is not None and "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" in verdict.event, verdict.describe()
    assert "NON-DETERMINISTIC" in verdict.describe() and f"event {verdict.event_id}" in verdict.describe()


async def test_replay_without_the_key_says_the_key_is_missing() -> None:
    from runtime.codec import generate_keyring

    history = load_history(history_file("run_success").read_text(), "run_success")
    verdict = await HistoryReplayer(generate_keyring(["other"])).verdict(history)
    assert not verdict.clean and not verdict.nondeterministic
    assert "test-only-histories" in verdict.error, verdict.error


@pytest.mark.parametrize(
    "scenario",
    ["run_cancel", "location_redeploy", "sensor_ticks_then_stopped", "alert_delivered_after_a_failed_attempt"],
)
def test_the_replay_command_replays_a_history_file(scenario: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "LONGSHOREMAN_ENCRYPTION_KEY_FILE": str(KEY_FILE)}
    result = subprocess.run(
        [sys.executable, "-m", "longshoreman", "replay", "--file", str(history_file(scenario))],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{scenario} (" in result.stdout and "replayed cleanly" in result.stdout, result.stdout


def test_the_replay_command_fails_with_the_mismatch_on_drifted_code(tmp_path: Path) -> None:
    # A history whose recorded commands the current code cannot produce: the activity type was renamed.
    data = json.loads(history_file("run_success").read_text())
    for event in data["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs and attrs["activityType"]["name"] == "start_run_worker":
            attrs["activityType"]["name"] = "start_run_worker_v0"
    drifted = tmp_path / "drifted.json"
    drifted.write_text(json.dumps(data))
    env = {"PATH": "/usr/bin:/bin", "LONGSHOREMAN_ENCRYPTION_KEY_FILE": str(KEY_FILE)}
    result = subprocess.run(
        [sys.executable, "-m", "longshoreman", "replay", "--file", str(drifted)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NON-DETERMINISTIC" in result.stdout
    assert "first mismatch at event" in result.stdout and "start_run_worker_v0" in result.stdout, result.stdout
