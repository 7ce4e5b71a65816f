"""Fault 9: the process launcher's state directory full, then read-only: clear errors, nothing corrupted."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.faults.disk_full import DiskFull
from tests.support.faults.env import FaultEnv


@pytest.fixture
def disk_full(fault_env: FaultEnv) -> Iterator[DiskFull]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root (CI and the dev machines run as root)")
    scenario = DiskFull()
    scenario.setup(fault_env)
    yield scenario
    fault_env.close()
    scenario.teardown(fault_env)


def test_a_full_or_read_only_state_dir_fails_launches_clearly_and_corrupts_nothing(
    fault_env: FaultEnv, disk_full: DiskFull
) -> None:
    audit = disk_full.trial(fault_env)

    assert audit.clean, f"{audit}\n{fault_env.agent_logs()}"
    reasons = disk_full.reasons or {}
    assert "No space left on device" in reasons["full"] and "state directory" in reasons["full"], reasons
    assert "Read-only file system" in reasons["read-only"], reasons
    assert "No space left on device" in disk_full.location_error, disk_full.location_error
    # The run that was running when the disk filled up finished, with all its output delivered.
    statuses = sorted(view["status"] for view in audit.views.values())
    assert statuses == ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"], audit.views
